//go:build vlab

package vlabtest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/node"
)

func TestLabBootsAndMeters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := t.TempDir()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nodePort := ln.Addr().(*net.TCPAddr).Port
	ipmiPort := freeIPMIBase(t)

	t0 := time.Now()
	// --net user: without a controller nothing answers DHCP on the lab's
	// bridge; this test is the controller, on the host's loopback.
	vlab(t, ctx, nil, "up", "1", "--no-controller", "--net", "user", "--dir", dir,
		"--port-base", strconv.Itoa(ipmiPort), "--node-port", strconv.Itoa(nodePort),
		"--ssh-base", strconv.Itoa(freeTCP(t)))
	t.Logf("vlab up 1: %v", time.Since(t0).Round(time.Millisecond))
	labDown(t, dir)

	kernel, err := os.ReadFile(filepath.Join(dir, "kernel", "vmlinuz"))
	if err != nil {
		t.Fatal(err)
	}
	initrd, err := os.ReadFile(filepath.Join(dir, "kernel", "initrd.img"))
	if err != nil {
		t.Fatal(err)
	}
	// A second archive must start 4-byte aligned (the kernel skips NUL padding).
	for len(initrd)%4 != 0 {
		initrd = append(initrd, 0)
	}
	initrd = append(initrd, newc(map[string]string{"vlabtest": fmt.Sprintf(guestScript, nodePort)})...)

	bs := &bootServer{hits: map[string]time.Time{}, query: map[string]string{}, notify: make(chan string, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("/boot.ipxe", func(w http.ResponseWriter, r *http.Request) {
		bs.ServeHTTP(w, r)
		fmt.Fprintf(w, bootScript, nodePort, nodePort)
	})
	mux.HandleFunc("/vmlinuz", func(w http.ResponseWriter, r *http.Request) { bs.ServeHTTP(w, r); w.Write(kernel) })
	mux.HandleFunc("/initrd.img", func(w http.ResponseWriter, r *http.Request) { bs.ServeHTTP(w, r); w.Write(initrd) })
	mux.Handle("/", bs)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	nd := filepath.Join(dir, "node1")
	pass := readTrim(t, filepath.Join(nd, "bmc.pass"))
	if st, err := os.Stat(filepath.Join(nd, "bmc.pass")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("bmc.pass mode: %v %v", st.Mode(), err)
	}
	if out, err := ipmitool(ctx, ipmiPort, pass, "chassis", "power", "status"); err != nil || !strings.Contains(out, "is off") {
		t.Fatalf("before power on: %q %v", out, err)
	}
	// Off is not 0 W: the BMC and the power supply draw standby power, and
	// the sensor (4 W steps, a few percent of noise) shows it.
	if w, _ := strconv.Atoi(readTrim(t, filepath.Join(nd, "power_watts"))); w < 4 || w > standbySensorMax {
		t.Errorf("power_watts while off = %d, want the standby draw (4..%d W)", w, standbySensorMax)
	}
	j0, _ := strconv.ParseFloat(readTrim(t, filepath.Join(nd, "energy_joules")), 64)

	tOn := time.Now()
	if out, err := ipmitool(ctx, ipmiPort, pass, "chassis", "power", "on"); err != nil {
		t.Fatalf("power on: %q %v", out, err)
	}

	// Poll the model's watts while waiting for the guest's milestones.
	maxBoot, maxBusy := 0, 0
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	deadline := time.NewTimer(3 * time.Minute)
	defer deadline.Stop()
	var bmcWatts string
	for {
		_, _, reported := bs.hit("/report")
		_, _, busyDone := bs.hit("/busy-done")
		if busyDone {
			break
		}
		w, _ := strconv.Atoi(readTrim(t, filepath.Join(nd, "power_watts")))
		if reported {
			maxBusy = max(maxBusy, w)
			if bmcWatts == "" && w > 40 {
				// The BMC polls the file every second: read its sensor mid-burn.
				out, err := ipmitool(ctx, ipmiPort, pass, "sdr", "get", "Sys Power")
				if err != nil {
					t.Fatalf("sdr get: %q %v", out, err)
				}
				bmcWatts = out
			}
		} else {
			maxBoot = max(maxBoot, w)
		}
		select {
		case <-poll.C:
		case <-deadline.C:
			t.Fatalf("guest never finished (hits %v); serial log:\n%s", bs.hits, tail(filepath.Join(nd, "serial.log")))
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	tIPXE, _, _ := bs.hit("/boot.ipxe")
	tKernel, _, _ := bs.hit("/vmlinuz")
	tReport, q, _ := bs.hit("/report")
	tBusy, _, _ := bs.hit("/busy-done")
	t.Logf("power on → boot.ipxe %v, → vmlinuz %v, → guest report %v, busy loop done %v",
		tIPXE.Sub(tOn).Round(time.Millisecond), tKernel.Sub(tOn).Round(time.Millisecond),
		tReport.Sub(tOn).Round(time.Millisecond), tBusy.Sub(tOn).Round(time.Millisecond))
	// The 8 virtio NIC modules, virtio-rng and the 5 of the RAPL share
	// (9p), all loaded in their order.
	if q != "modules=14&listed=14&mac=52:54:00:00:00:01" {
		t.Errorf("guest report %q: want all 14 modules (virtio NIC, virtio-rng, 9p) loaded from /etc/modules.order and the lab MAC", q)
	}
	t.Logf("max model watts: boot %d, busy loop %d; BMC sensor: %s", maxBoot, maxBusy, strings.TrimSpace(bmcWatts))
	if maxBoot <= 40 {
		t.Errorf("watts never rose above idle (40) during boot: max %d", maxBoot)
	}
	// How far above idle depends on how much CPU the host gives QEMU (the
	// model follows QEMU's real CPU time): on a busy 2-core host a full guest
	// loop has shown 68 W, on a quiet one 96..100 W.
	if maxBusy <= 40 {
		t.Errorf("watts never rose above idle (40) during the guest's busy loop: max %d", maxBusy)
	}
	if m := sensorWatts.FindStringSubmatch(bmcWatts); m == nil {
		t.Errorf("BMC sensor reading %q has no watts", bmcWatts)
	} else if w, _ := strconv.Atoi(m[1]); w < 40 || w > 100 || w%4 != 0 {
		t.Errorf("BMC sensor reads %d W while on, want a multiple of 4 in 40..100", w)
	}

	for _, l := range strings.Split(tail(filepath.Join(nd, "serial.log")), "\n") {
		if strings.HasPrefix(l, "VLABTEST") {
			t.Log(strings.TrimSpace(l))
		}
	}

	tOff := time.Now()
	if out, err := ipmitool(ctx, ipmiPort, pass, "chassis", "power", "off"); err != nil {
		t.Fatalf("power off: %q %v", out, err)
	}
	for {
		out, _ := ipmitool(ctx, ipmiPort, pass, "chassis", "power", "status")
		w, _ := strconv.Atoi(readTrim(t, filepath.Join(nd, "power_watts")))
		if strings.Contains(out, "is off") && w <= standbySensorMax {
			break
		}
		select {
		case <-poll.C:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		if time.Since(tOff) > 30*time.Second {
			t.Fatalf("node did not reach off with standby watts in 30 s")
		}
	}
	t.Logf("power off → status off and the sensor at standby: %v", time.Since(tOff).Round(time.Millisecond))

	j1, err := strconv.ParseFloat(readTrim(t, filepath.Join(nd, "energy_joules")), 64)
	if err != nil {
		t.Fatal(err)
	}
	onFor := tOff.Sub(tOn).Seconds()
	t.Logf("energy: %.1f J over %.1f s on (mean %.1f W)", j1-j0, onFor, (j1-j0)/onFor)
	if mean := (j1 - j0) / onFor; mean < 40 || mean > 120 {
		t.Errorf("mean power %.1f W is outside the model's 40..120 W (idle..peak + surge)", mean)
	}

	// The energy subcommand prints the same counter, which now grows by
	// the standby draw only.
	got, err := strconv.ParseFloat(strings.TrimSpace(vlab(t, ctx, nil, "energy", "--dir", dir, "vnode1")), 64)
	j2, _ := strconv.ParseFloat(readTrim(t, filepath.Join(nd, "energy_joules")), 64)
	if err != nil || got < j1 || got > j2 {
		t.Errorf("vlab energy = %v (%v), want between %.3f and %.3f", got, err, j1, j2)
	}
	<-time.After(time.Second) // the standby draw is measured over a second of lab time
	j3, _ := strconv.ParseFloat(readTrim(t, filepath.Join(nd, "energy_joules")), 64)
	if d := j3 - j2; d < 5 || d > 30 {
		t.Errorf("counter grew %.2f J in ~1 s off, want the standby draw (~10 J)", d)
	}
	if got := vlab(t, ctx, nil, "status", "--dir", dir); !strings.Contains(got, "power=off") {
		t.Errorf("vlab status = %q", got)
	}
	csv := readTrim(t, filepath.Join(nd, "truth.csv"))
	rows := strings.Split(csv, "\n")
	if rows[0] != "time,watts,joules" || len(rows) < int(onFor) {
		t.Errorf("truth.csv has %d rows for %.0f s (header %q)", len(rows), onFor, rows[0])
	}
}

// standbySensorMax bounds the BMC's reading of a machine that is off: the
// lab's 10 W standby, plus noise, in 4 W steps.
const standbySensorMax = 16

func tail(p string) string {
	b, _ := os.ReadFile(p)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func TestBadPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	port := freeIPMIBase(t)
	// --net user: the test speaks IPMI to the BMCs from the host.
	vlab(t, ctx, nil, "up", "2", "--no-controller", "--net", "user", "--dir", dir, "--port-base", strconv.Itoa(port),
		"--ssh-base", strconv.Itoa(freeTCP(t)), "--bad-password", "2")
	labDown(t, dir)
	good := readTrim(t, filepath.Join(dir, "node1", "bmc.pass"))
	bad := readTrim(t, filepath.Join(dir, "node2", "bmc.pass"))
	if out, err := ipmitool(ctx, port, good, "chassis", "power", "status"); err != nil {
		t.Errorf("node1 with its password: %q %v", out, err)
	}
	if out, err := ipmitool(ctx, port+10, bad, "chassis", "power", "status"); err == nil {
		t.Errorf("node2 accepted the wrong password: %q", out)
	}
	if good == bad {
		t.Error("passwords are not per node")
	}
	// nodes.toml parses with the controller's own parser and says what the lab built.
	data, err := os.ReadFile(filepath.Join(dir, "nodes.toml"))
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := node.ParseFile("nodes.toml", data)
	if err != nil {
		t.Fatalf("nodes.toml does not parse: %v\n%s", err, data)
	}
	if len(nodes) != 2 || nodes[1].Name != "vnode2" || nodes[1].BMC.Port != port+10 ||
		nodes[1].BMC.PasswordFile != filepath.Join(dir, "node2", "bmc.pass") || nodes[1].MAC != "52:54:00:00:00:02" ||
		nodes[0].Memory != 256<<20 || nodes[0].ExpectedBoot != 16*time.Second || nodes[0].Kind != "qemu-x86" {
		t.Errorf("nodes.toml parsed to %+v", nodes)
	}
	// The meter dates readings by the lab sensor's own settings: a 1 s
	// window and period, 250 ms of lag plus half ipmi_sim's 100 ms poll.
	if b := nodes[0].BMC; b.PowerWindow != time.Second || b.PowerPeriod != time.Second || b.PowerLag != 300*time.Millisecond {
		t.Errorf("vnode1's sensor timing in nodes.toml: window %v period %v lag %v", b.PowerWindow, b.PowerPeriod, b.PowerLag)
	}
	toml := string(data)
	for _, want := range []string{
		fmt.Sprintf("port = %d", port), fmt.Sprintf("port = %d", port+10),
		`password_file = "` + filepath.Join(dir, "node2", "bmc.pass") + `"`,
		`mac = "52:54:00:00:00:02"`, `cipher_suite = "3"`, `power_sensor = "Sys Power"`,
	} {
		if !strings.Contains(toml, want) {
			t.Errorf("nodes.toml lacks %s:\n%s", want, toml)
		}
	}
}

// fakeCtld stands in for bmcctld: it accepts exactly the flags the lab
// promises, records them, listens on --socket and exits on SIGTERM.
func fakeCtld(args []string) int {
	fs := flag.NewFlagSet("bmcctld", flag.ContinueOnError)
	names := []string{"state-dir", "socket", "nodes", "node-listen", "node-url", "default-kernel",
		"default-initrd", "metrics-listen", "log-file", "dhcp-interface"}
	vals := map[string]*string{}
	for _, n := range names {
		vals[n] = fs.String(n, "", "")
	}
	noRouter := fs.Bool("dhcp-ipv6-no-router", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return 2
	}
	var rec strings.Builder
	for _, n := range names {
		if *vals[n] == "" {
			fmt.Fprintf(os.Stderr, "missing --%s\n", n)
			return 2
		}
		fmt.Fprintf(&rec, "%s=%s\n", n, *vals[n])
	}
	fmt.Fprintf(&rec, "dhcp-ipv6-no-router=%v\n", *noRouter)
	if err := os.WriteFile(*vals["log-file"], []byte(rec.String()), 0o644); err != nil {
		return 1
	}
	l, err := net.Listen("unix", *vals["socket"])
	if err != nil {
		return 1
	}
	defer l.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return 0
}

func TestControllerWiring(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port := freeIPMIBase(t)
	nodePort, metricsPort := freeTCP(t), freeTCP(t)
	vlab(t, ctx, []string{"BMCCTLD=" + self, "VLABTEST_FAKE_CTLD=1"}, "up", "1", "--dir", dir,
		"--port-base", strconv.Itoa(port), "--node-port", strconv.Itoa(nodePort),
		"--metrics-port", strconv.Itoa(metricsPort), "--ssh-base", strconv.Itoa(freeTCP(t)))
	labDown(t, dir)

	want := strings.Join([]string{
		"state-dir=" + dir + "/state",
		"socket=" + dir + "/bmcctld.sock",
		"nodes=" + dir + "/nodes.toml",
		fmt.Sprintf("node-listen=10.77.0.1:%d", nodePort),
		fmt.Sprintf("node-url=http://10.77.0.1:%d", nodePort),
		"default-kernel=" + dir + "/kernel/vmlinuz",
		"default-initrd=" + dir + "/kernel/initrd.img",
		fmt.Sprintf("metrics-listen=127.0.0.1:%d", metricsPort),
		"log-file=" + dir + "/bmcctld.log",
		"dhcp-interface=br0",
		"dhcp-ipv6-no-router=true",
	}, "\n")
	if got := readTrim(t, filepath.Join(dir, "bmcctld.log")); got != want {
		t.Errorf("bmcctld got flags\n%s\nwant\n%s", got, want)
	}
	ns := readTrim(t, filepath.Join(dir, "netns"))
	if cmd := readTrim(t, filepath.Join(dir, "bmcctld.cmd")); !strings.HasPrefix(cmd, "ip netns exec "+ns+" "+self+" --state-dir ") {
		t.Errorf("bmcctld.cmd = %q", cmd)
	}
	if _, err := os.Stat(filepath.Join(dir, "bmcctld.sock")); err != nil {
		t.Error(err)
	}
	env := readTrim(t, filepath.Join(dir, "env"))
	if !strings.Contains(env, "BMC_SOCKET="+dir+"/bmcctld.sock\n") || !strings.Contains(env, "VLAB_DIR="+dir+"\n") ||
		!strings.Contains(env, "VLAB_NET=bridge\n") {
		t.Errorf("env =\n%s", env)
	}
	// The controller runs in the lab's own namespace, which has the bridge
	// and nothing else: no route out.
	if !strings.Contains(env, "VLAB_NETNS="+ns+"\n") {
		t.Errorf("env names no namespace %s:\n%s", ns, env)
	}
	out, err := exec.CommandContext(ctx, "ip", "-n", ns, "route", "show").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "10.77.0.0/16 dev br0 proto kernel scope link src 10.77.0.1 linkdown" &&
		strings.TrimSpace(string(out)) != "10.77.0.0/16 dev br0 proto kernel scope link src 10.77.0.1" {
		t.Errorf("routes in the lab's namespace: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "nodes.toml")); err != nil || !bytes.Contains(b, []byte("address = \"10.77.1.1\"\n")) {
		t.Errorf("nodes.toml gives vnode1 no address: %v\n%s", err, b)
	}

	// The node file the script wrote with its node's own SDR port.
	if b, err := os.ReadFile(filepath.Join(dir, "nodes.toml")); err != nil || !bytes.Contains(b, []byte(fmt.Sprintf("port = %d\n", port))) {
		t.Errorf("nodes.toml: %v\n%s", err, b)
	}
	pid, _ := strconv.Atoi(readTrim(t, filepath.Join(dir, "bmcctld.pid")))
	if !alive(pid) {
		t.Fatalf("bmcctld pid %d not alive", pid)
	}
	// labDown's cleanup checks that vlab down stopped it.
}

// A controller that dies at start fails "up", and up leaves nothing running.
func TestFailedUpStopsWhatItStarted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	port := freeIPMIBase(t)
	cmd := exec.CommandContext(ctx, vlabScript(t), "up", "1", "--dir", dir, "--port-base", strconv.Itoa(port),
		"--node-port", strconv.Itoa(freeTCP(t)), "--metrics-port", strconv.Itoa(freeTCP(t)),
		"--ssh-base", strconv.Itoa(freeTCP(t)))
	cmd.Env = append(os.Environ(), "BMCCTLD=/bin/false")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("up with a dying bmcctld succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "bmcctld exited") {
		t.Errorf("up did not say why it failed:\n%s", out)
	}
	// down removes the PID files, so look for any process naming the lab.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(dir)) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if alive(pid) {
			t.Errorf("pid %d left running by a failed up: %q", pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}
