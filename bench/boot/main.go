// Command boot measures the boot cycle of a job on the virtual lab and what
// the controller adds to it: on a one-node lab (scripts/vlab) it alternates a
// bare network boot of the same machine — same QEMU flags, same firmware and
// iPXE path, same kernel and lab initrd, but a tiny /bmcinit that prints a
// marker and powers off, served by a static HTTP server — with a real job
// submitted to bmcctld, N times, and reports each phase with its median and
// range. A direct -kernel boot runs too, to show what the firmware and iPXE
// cost on their own.
//
// Run from the repository root, as root (the lab needs it):
//
//	go run ./bench/boot -n 3              # the lab's bridge and bmcctld's DHCP
//	go run ./bench/boot -n 3 -net user    # QEMU's user-mode network
//
// BMCCTLD and VLAB_METER are passed to scripts/vlab (prebuilt binaries).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bmc-sched/bmc/boot/initramfs"
)

// marker is what the bare boot's init prints, followed by its /proc/uptime.
const marker = "BMC-BENCH-BARE-BOOT"

// bareInit runs as PID 1 of the bare boot: it shows how long the kernel took
// to reach user space and powers the machine off at once, as a job would.
const bareInit = `#!/bin/sh
/bin/busybox mount -t proc proc /proc
read up idle </proc/uptime
echo "` + marker + ` $up" >/dev/console
/bin/busybox poweroff -f
`

type config struct {
	n                                        int
	dir                                      string
	keep                                     bool
	portBase, nodePort, sshBase, metricsPort int
	barePort                                 int
	jobTimeout                               time.Duration
	cpu                                      string
	net                                      string
}

func main() {
	var c config
	flag.IntVar(&c.n, "n", 3, "rounds (one bare boot, one direct boot and one job each)")
	flag.StringVar(&c.dir, "dir", "", "lab directory (default: a new temporary one)")
	flag.BoolVar(&c.keep, "keep", false, "leave the lab up at the end")
	flag.IntVar(&c.portBase, "port-base", 39001, "vlab --port-base (IPMI)")
	flag.IntVar(&c.nodePort, "node-port", 38150, "vlab --node-port (controller's boot server)")
	flag.IntVar(&c.sshBase, "ssh-base", 32222, "vlab --ssh-base")
	flag.IntVar(&c.metricsPort, "metrics-port", 38151, "vlab --metrics-port")
	flag.IntVar(&c.barePort, "bare-port", 38160, "port of the bare boot's static HTTP server on 127.0.0.1")
	flag.StringVar(&c.cpu, "cpu", "", "QEMU CPU model for the node and the bare boots, e.g. max (RDRAND seeds the CRNG at once); default the lab's")
	flag.StringVar(&c.net, "net", "bridge", "vlab --net: bridge (the lab's default: bmcctld's DHCP on a bridge) or user (QEMU's slirp)")
	flag.DurationVar(&c.jobTimeout, "job-timeout", 5*time.Minute, "give up on a boot after this long")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(context.Background(), c, log); err != nil {
		log.Error("bench failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, log *slog.Logger) error {
	if c.dir == "" {
		d, err := os.MkdirTemp("", "bmc-bench-boot-")
		if err != nil {
			return err
		}
		c.dir = d
	}
	// bmcctld runs jobs as their user: the lab directory must be readable.
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(c.dir, 0o755); err != nil {
		return err
	}
	up := exec.CommandContext(ctx, "scripts/vlab", "up", "1", "--dir", c.dir, "--net", c.net,
		"--port-base", strconv.Itoa(c.portBase), "--node-port", strconv.Itoa(c.nodePort),
		"--ssh-base", strconv.Itoa(c.sshBase), "--metrics-port", strconv.Itoa(c.metricsPort))
	up.Stdout, up.Stderr = os.Stderr, os.Stderr
	defer func() {
		if c.keep {
			log.Info("lab left up", "dir", c.dir)
			return
		}
		down := exec.Command("scripts/vlab", "down", "--dir", c.dir)
		down.Stdout, down.Stderr = os.Stderr, os.Stderr
		if err := down.Run(); err != nil {
			log.Error("vlab down", "err", err)
		}
	}()
	if err := up.Run(); err != nil {
		return fmt.Errorf("vlab up: %w", err)
	}
	if c.cpu != "" {
		if err := setCPU(filepath.Join(c.dir, "node1", "startcmd"), c.cpu); err != nil {
			return err
		}
	}
	l, err := openLab(c.dir)
	if err != nil {
		return err
	}
	bare, err := newBareServer(c, l)
	if err != nil {
		return err
	}
	defer bare.Close()

	var rounds []round
	for i := 1; i <= c.n; i++ {
		var r round
		if r.bare, err = bare.boot(ctx, i, true); err != nil {
			return fmt.Errorf("round %d, bare iPXE boot: %w", i, err)
		}
		log.Info("bare iPXE boot", "round", i, "marker", r.bare.total)
		if r.direct, err = bare.boot(ctx, i, false); err != nil {
			return fmt.Errorf("round %d, direct boot: %w", i, err)
		}
		log.Info("bare direct boot", "round", i, "marker", r.direct.total)
		if r.job, err = l.runJob(ctx, c, i); err != nil {
			return fmt.Errorf("round %d, job: %w", i, err)
		}
		log.Info("job", "round", i, "id", r.job.id, "power_on_to_start", r.job.powerOnToStart)
		rounds = append(rounds, r)
	}
	fi, err := os.Stat(filepath.Join(bare.dir, "initrd.img"))
	if err != nil {
		return err
	}
	report(os.Stdout, rounds, fi.Size(), l.qemu)
	return nil
}

// lab is a running one-node lab.
type lab struct {
	dir, bin, socket string
	qemu             []string // node1's QEMU command line, from its startcmd
}

func openLab(dir string) (*lab, error) {
	l := &lab{dir: dir, bin: filepath.Join(dir, "bin")}
	if b := os.Getenv("BMCCTLD"); b != "" {
		l.bin = filepath.Dir(b) // vlab then builds no user commands
	}
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(env), "\n") {
		if v, ok := strings.CutPrefix(line, "BMC_SOCKET="); ok {
			l.socket = v
		}
	}
	if l.socket == "" {
		return nil, fmt.Errorf("%s/env names no BMC_SOCKET", dir)
	}
	start, err := os.ReadFile(filepath.Join(dir, "node1", "startcmd"))
	if err != nil {
		return nil, err
	}
	if l.qemu, err = parseStartcmd(string(start)); err != nil {
		return nil, err
	}
	return l, nil
}

// setCPU makes the node's QEMU (started by ipmi_sim from startcmd on every
// power on) emulate cpu; the bare boots copy the same command line.
func setCPU(startcmd, cpu string) error {
	b, err := os.ReadFile(startcmd)
	if err != nil {
		return err
	}
	if !bytes.Contains(b, []byte(" -accel tcg ")) || bytes.Contains(b, []byte(" -cpu ")) {
		return fmt.Errorf("%s: no \"-accel tcg\" to add -cpu to, or a -cpu already", startcmd)
	}
	b = bytes.Replace(b, []byte(" -accel tcg "), []byte(" -accel tcg -cpu "+cpu+" "), 1)
	return os.WriteFile(startcmd, b, 0o755)
}

// parseStartcmd returns the argv of the startcmd's exec line. vlab writes
// no quoting into it (paths and values have no spaces), so fields suffice.
func parseStartcmd(s string) ([]string, error) {
	s = strings.ReplaceAll(s, "\\\n", " ")
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "exec" {
			return f[1:], nil
		}
	}
	return nil, errors.New("startcmd has no exec line")
}

// bareServer is the bare boot's stand-in for the controller's boot server:
// static files and the times they were asked for.
type bareServer struct {
	c      config
	l      *lab
	dir    string
	srv    *http.Server
	mu     sync.Mutex
	events map[string]time.Time
}

func newBareServer(c config, l *lab) (*bareServer, error) {
	b := &bareServer{c: c, l: l, dir: filepath.Join(l.dir, "bare"), events: map[string]time.Time{}}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, err
	}
	if err := b.writeInitrd(); err != nil {
		return nil, err
	}
	script := fmt.Sprintf("#!ipxe\nkernel http://10.0.2.2:%d/vmlinuz initrd=initrd.img console=ttyS0,115200 rdinit=%s\ninitrd http://10.0.2.2:%d/initrd.img\nboot\n",
		c.barePort, initramfs.AgentPath, c.barePort)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boot.ipxe", func(w http.ResponseWriter, r *http.Request) {
		b.mark("script")
		io.WriteString(w, script)
	})
	file := func(name, path string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b.mark(name + "-start")
			http.ServeFile(w, r, path)
			b.mark(name + "-end")
		}
	}
	mux.HandleFunc("GET /vmlinuz", file("kernel", filepath.Join(l.dir, "kernel", "vmlinuz")))
	mux.HandleFunc("GET /initrd.img", file("initrd", filepath.Join(b.dir, "initrd.img")))
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", c.barePort))
	if err != nil {
		return nil, err
	}
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go b.srv.Serve(ln)
	return b, nil
}

func (b *bareServer) Close() error { return b.srv.Close() }

// writeInitrd appends bareInit to the lab's initrd exactly as bmcctld appends
// the agent, so the bare boot unpacks the same first archive.
func (b *bareServer) writeInitrd() error {
	in, err := os.Open(filepath.Join(b.l.dir, "kernel", "initrd.img"))
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(filepath.Join(b.dir, "initrd.img"))
	if err != nil {
		return err
	}
	if err := initramfs.Append(out, in, strings.NewReader(bareInit), int64(len(bareInit))); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (b *bareServer) mark(ev string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events[ev] = time.Now()
}

func (b *bareServer) take() map[string]time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev := b.events
	b.events = map[string]time.Time{}
	return ev
}

// bareBoot is one bare boot, each time relative to QEMU's start.
type bareBoot struct {
	script      time.Duration // boot.ipxe asked for: firmware, iPXE, DHCP
	initrdEnd   time.Duration // last byte of the initrd sent
	kernelStart time.Duration // marker time minus the guest's uptime
	uptime      time.Duration // kernel start → marker
	guest       guestTimeline
	total       time.Duration // QEMU start → marker
}

// boot starts node1's QEMU directly (the lab's node is off: its ipmi_sim only
// starts QEMU on power on). With ipxe it network-boots from the bare server;
// without, QEMU loads the same kernel and initrd itself.
func (b *bareServer) boot(ctx context.Context, round int, ipxe bool) (bareBoot, error) {
	kind := "direct"
	if ipxe {
		kind = "ipxe"
	}
	serial := filepath.Join(b.dir, fmt.Sprintf("serial-%s-%d.log", kind, round))
	args := bareArgs(b.l.qemu, b.c, serial, filepath.Join(b.dir, "qemu.pid"))
	if !ipxe {
		args = append(args, "-kernel", filepath.Join(b.l.dir, "kernel", "vmlinuz"),
			"-initrd", filepath.Join(b.dir, "initrd.img"),
			"-append", "console=ttyS0,115200 rdinit="+initramfs.AgentPath)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	os.Remove(serial)
	b.take()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return bareBoot{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return bareBoot{}, fmt.Errorf("QEMU ended before the marker: %v %s", err, stderr.String())
		case <-tick.C:
		}
		up, ok := findMarker(serial)
		if !ok {
			continue
		}
		tm := time.Now()
		select { // init powers off at once; a stuck guest is killed with the context
		case <-done:
		case <-time.After(30 * time.Second):
			cancel()
			<-done
		}
		ev := b.take()
		console, _ := os.ReadFile(serial)
		bb := bareBoot{uptime: up, total: tm.Sub(t0), guest: parseGuest(console)}
		bb.kernelStart = bb.total - up
		if ipxe {
			bb.script = ev["script"].Sub(t0)
			bb.initrdEnd = ev["initrd-end"].Sub(t0)
		}
		return bb, nil
	}
}

// bareArgs turns the lab node's QEMU command into the bare boot's: the same
// machine, NIC, serial port and an IPMI KCS interface (QEMU's internal BMC
// instead of the lab's ipmi_sim, which must not see a second QEMU), the boot
// file from the bare server, and no SSH forward.
func bareArgs(node []string, c config, serial, pidfile string) []string {
	var out []string
	for i := 0; i < len(node); i++ {
		a := node[i]
		switch {
		case strings.HasPrefix(a, "user,id=n0"), strings.HasPrefix(a, "tap,id=n0"):
			// The bare boot runs here, beside the lab, on QEMU's own network
			// whichever network the lab's machines use.
			a = fmt.Sprintf("user,id=n0,bootfile=http://10.0.2.2:%d/boot.ipxe", c.barePort)
		case strings.HasPrefix(a, "socket,id=ipmi0") && len(out) > 0 && out[len(out)-1] == "-chardev":
			out = out[:len(out)-1] // and the -chardev before it
			continue
		case strings.HasPrefix(a, "ipmi-bmc-extern"):
			a = "ipmi-bmc-sim,id=bmc0"
		case strings.HasPrefix(a, "file,id=ser0"):
			a = "file,id=ser0,path=" + serial
		case a == "-pidfile" && i+1 < len(node):
			out = append(out, a, pidfile)
			i++
			continue
		case a == "-name" && i+1 < len(node):
			out = append(out, a, node[i+1]+"-bare")
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// guestTimeline is when things happened in the guest, by its own clock
// (seconds since the kernel's clock started), read from the serial console.
type guestTimeline map[string]time.Duration

// guestEvents names the lines of interest: the kernel's handover to init and
// the agent's log lines (bmcinit writes "bmcinit: [uptime] message" to the console).
var guestEvents = []struct{ key, prefix string }{
	{"init", "Run /bmcinit as init process"},
	{"modules", "modules loaded"},
	{"entropy", "entropy ready"},
	{"link", "link up"},
	{"lease", "dhcp lease"},
	{"rootfs", "rootfs extracted"},
	{"ready", "ready addr="},
	{"ssh", "ssh connection"},
	{"command", "job command job="},
}

var guestLineRE = regexp.MustCompile(`^(?:bmcinit: )?\[\s*([0-9.]+)\] (.*)$`)

func parseGuest(console []byte) guestTimeline {
	g := guestTimeline{}
	for _, line := range strings.Split(string(console), "\n") {
		m := guestLineRE.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil {
			continue
		}
		for _, e := range guestEvents {
			if _, seen := g[e.key]; !seen && strings.HasPrefix(m[2], e.prefix) {
				g[e.key] = secs(m[1])
			}
		}
	}
	return g
}

// span is b − a in the guest's clock, or −1 s when either is missing.
func (g guestTimeline) span(a, b string) time.Duration {
	ta, okA := g[a]
	tb, okB := g[b]
	if !okA || !okB {
		return -time.Second
	}
	return tb - ta
}

var markerRE = regexp.MustCompile(marker + ` ([0-9.]+)`)

func findMarker(path string) (time.Duration, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	m := markerRE.FindSubmatch(b)
	if m == nil {
		return 0, false
	}
	return secs(string(m[1])), true
}

func secs(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// jobRun is one job's boot cycle, from its event log, the controller's log
// and the guest's uptime when the command started.
type jobRun struct {
	id                 string
	submitToPowerOn    time.Duration // submit → POWERING_ON
	ipmiOn             time.Duration // POWERING_ON → BOOTING (power on confirmed)
	script             time.Duration // POWERING_ON → boot.ipxe served
	kernelStart        time.Duration // POWERING_ON → kernel start (agent's uptime)
	network            time.Duration // guest uptime when the agent had its address
	rootfs             time.Duration // agent: network up → SSH server up (rootfs fetched and unpacked)
	sshd               time.Duration // guest uptime when the agent reported ready
	readyToRunning     time.Duration // agent ready → RUNNING (controller's SSH connect and exec)
	powerOnToStart     time.Duration // POWERING_ON → RUNNING
	uptimeAtCommand    time.Duration // the command's /proc/uptime
	runningToOff       time.Duration // RUNNING → POWERING_OFF (the whole command, over SSH)
	powerOff           time.Duration // POWERING_OFF → COMPLETED (power off confirmed)
	submitToStart      time.Duration // submit → RUNNING
	initrdBytes        int64
	rootfsBytes        int64
	powerOnAt, readyAt time.Time
	guest              guestTimeline
}

type jobDetail struct {
	State      string    `json:"state"`
	SubmitTime time.Time `json:"submit_time"`
	Output     string    `json:"output_path"`
	Events     []struct {
		Time  time.Time `json:"time"`
		State string    `json:"state"`
	} `json:"events"`
}

func (l *lab) bmc(ctx context.Context, dir string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(l.bin, name), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BMC_SOCKET="+l.socket)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// runJob submits a job that prints the guest's uptime and follows it to its end.
func (l *lab) runJob(ctx context.Context, c config, round int) (jobRun, error) {
	work := filepath.Join(l.dir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return jobRun{}, err
	}
	spec := fmt.Sprintf("name = \"boot-bench-%d\"\nimage = \"oci:%s/images/busybox\"\ncommand = \"cat /proc/uptime\"\ntime_limit = \"5:00\"\n", round, l.dir)
	file := fmt.Sprintf("bench-%d.toml", round)
	if err := os.WriteFile(filepath.Join(work, file), []byte(spec), 0o644); err != nil {
		return jobRun{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.jobTimeout)
	defer cancel()
	serial := filepath.Join(l.dir, "node1", "serial.log")
	var consoleFrom int64 // serial.log grows across boots: read only this one's part
	if fi, err := os.Stat(serial); err == nil {
		consoleFrom = fi.Size()
	}
	out, err := l.bmc(ctx, work, "bmcsubmit", "--parsable", file)
	if err != nil {
		return jobRun{}, err
	}
	id := strings.TrimSpace(string(out))
	var d jobDetail
	for {
		out, err := l.bmc(ctx, work, "bmcq", "show", id, "--json")
		if err != nil {
			return jobRun{}, err
		}
		d = jobDetail{}
		if err := json.Unmarshal(out, &d); err != nil {
			return jobRun{}, fmt.Errorf("bmcq show --json: %w", err)
		}
		if d.State == "COMPLETED" {
			break
		}
		if slices.Contains([]string{"FAILED", "CANCELLED", "TIMEOUT", "BOOT_FAIL", "NODE_FAIL"}, d.State) {
			return jobRun{}, fmt.Errorf("job %s ended %s", id, d.State)
		}
		select {
		case <-ctx.Done():
			return jobRun{}, fmt.Errorf("job %s still %s: %w", id, d.State, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	at := map[string]time.Time{}
	for _, e := range d.Events {
		if _, seen := at[e.State]; !seen {
			at[e.State] = e.Time
		}
	}
	r := jobRun{id: id}
	r.powerOnAt = at["POWERING_ON"]
	r.submitToPowerOn = at["POWERING_ON"].Sub(d.SubmitTime)
	r.ipmiOn = at["BOOTING"].Sub(at["POWERING_ON"])
	r.powerOnToStart = at["RUNNING"].Sub(at["POWERING_ON"])
	r.runningToOff = at["POWERING_OFF"].Sub(at["RUNNING"])
	r.powerOff = at["COMPLETED"].Sub(at["POWERING_OFF"])
	r.submitToStart = at["RUNNING"].Sub(d.SubmitTime)
	if b, err := os.ReadFile(d.Output); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			r.uptimeAtCommand = secs(f[0])
		}
	}
	if b, err := os.ReadFile(serial); err == nil && int64(len(b)) >= consoleFrom {
		r.guest = parseGuest(b[consoleFrom:])
	}
	if err := l.fromLog(id, &r, at["RUNNING"]); err != nil {
		return r, err
	}
	return r, nil
}

var logfmtRE = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S*)`)

// fromLog fills the phases only bmcctld's log knows: when iPXE asked for its
// script and the agent's progress reports with the guest's uptime.
func (l *lab) fromLog(id string, r *jobRun, running time.Time) error {
	f, err := os.Open(filepath.Join(l.dir, "bmcctld.log"))
	if err != nil {
		return err
	}
	defer f.Close()
	var netAt time.Time
	var netUp, sshdUp time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		kv := map[string]string{}
		for _, m := range logfmtRE.FindAllStringSubmatch(sc.Text(), -1) {
			v := m[2]
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
			kv[m[1]] = v
		}
		if kv["job"] != id {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, kv["time"])
		if err != nil {
			continue
		}
		switch {
		case kv["msg"] == "boot prepared":
			r.initrdBytes, _ = strconv.ParseInt(kv["initrd_bytes"], 10, 64)
			r.rootfsBytes, _ = strconv.ParseInt(kv["rootfs_bytes"], 10, 64)
		case kv["msg"] == "boot script served" && r.script == 0:
			r.script = t.Sub(r.powerOnAt)
		case kv["msg"] == "agent progress" && kv["phase"] == "network":
			netAt, netUp = t, secs(kv["uptime"])
		case kv["msg"] == "agent progress" && kv["phase"] == "sshd":
			sshdUp = secs(kv["uptime"])
		case kv["msg"] == "agent ready":
			r.readyAt = t
			r.sshd = secs(kv["uptime"])
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if netAt.IsZero() || r.readyAt.IsZero() {
		return fmt.Errorf("bmcctld.log has no agent progress for job %s", id)
	}
	r.kernelStart = netAt.Add(-netUp).Sub(r.powerOnAt)
	r.network = netUp
	r.rootfs = sshdUp - netUp
	r.readyToRunning = running.Sub(r.readyAt)
	return nil
}

type round struct {
	bare, direct bareBoot
	job          jobRun
}

// stat prints the median and range of one figure over the rounds.
func stat(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf("%6.2f s  (%.2f – %.2f)", med.Seconds(), s[0].Seconds(), s[len(s)-1].Seconds())
}

func report(w io.Writer, rs []round, bareInitrd int64, qemu []string) {
	col := func(f func(round) time.Duration) []time.Duration {
		var out []time.Duration
		for _, r := range rs {
			out = append(out, f(r))
		}
		return out
	}
	row := func(name string, f func(round) time.Duration) {
		fmt.Fprintf(w, "| %s | %s |\n", name, stat(col(f)))
	}
	fmt.Fprintf(w, "\n%d rounds, %s, QEMU: %s; median (min – max)\n\n", len(rs), time.Now().UTC().Format("2006-01-02 15:04 MST"), strings.Join(qemu, " "))
	fmt.Fprintln(w, "| phase | time |")
	fmt.Fprintln(w, "|---|---|")
	fmt.Fprintln(w, "| **bare iPXE boot** (QEMU start → marker) | |")
	row("QEMU start → boot.ipxe asked (SeaBIOS, iPXE, DHCP)", func(r round) time.Duration { return r.bare.script })
	row("QEMU start → last initrd byte sent", func(r round) time.Duration { return r.bare.initrdEnd })
	row("QEMU start → kernel start", func(r round) time.Duration { return r.bare.kernelStart })
	row("kernel start → marker (guest uptime)", func(r round) time.Duration { return r.bare.uptime })
	row("total", func(r round) time.Duration { return r.bare.total })
	fmt.Fprintln(w, "| **direct boot** (-kernel/-initrd, no firmware network boot) | |")
	row("QEMU start → kernel start", func(r round) time.Duration { return r.direct.kernelStart })
	row("total", func(r round) time.Duration { return r.direct.total })
	fmt.Fprintln(w, "| **job through bmcctld** | |")
	row("submit → power on command (POWERING_ON)", func(r round) time.Duration { return r.job.submitToPowerOn })
	row("IPMI power on (POWERING_ON → BOOTING)", func(r round) time.Duration { return r.job.ipmiOn })
	row("power on → boot.ipxe served", func(r round) time.Duration { return r.job.script })
	row("power on → kernel start", func(r round) time.Duration { return r.job.kernelStart })
	row("kernel start → agent has its address (uptime)", func(r round) time.Duration { return r.job.network })
	row("agent: address → SSH server up (rootfs fetched, unpacked)", func(r round) time.Duration { return r.job.rootfs })
	row("kernel start → agent ready (uptime)", func(r round) time.Duration { return r.job.sshd })
	row("agent ready → RUNNING (controller's SSH connect, exec)", func(r round) time.Duration { return r.job.readyToRunning })
	row("guest uptime when the command ran", func(r round) time.Duration { return r.job.uptimeAtCommand })
	fmt.Fprintln(w, "| **in the guest, by its clock** (serial console; job vs bare) | |")
	row("bare: kernel start → init runs (1.1 MB initrd)", func(r round) time.Duration { return r.bare.guest["init"] })
	row("job: kernel start → init runs (initrd with agent)", func(r round) time.Duration { return r.job.guest["init"] })
	row("bare: init → marker", func(r round) time.Duration { return r.bare.uptime - r.bare.guest["init"] })
	row("agent: init → NIC modules loaded", func(r round) time.Duration { return r.job.guest.span("init", "modules") })
	row("agent: modules → CRNG ready (entropy wait)", func(r round) time.Duration { return r.job.guest.span("modules", "entropy") })
	row("agent: CRNG → link up", func(r round) time.Duration { return r.job.guest.span("entropy", "link") })
	row("agent: link → DHCP lease", func(r round) time.Duration { return r.job.guest.span("link", "lease") })
	row("agent: lease → rootfs extracted (config, download, unpack)", func(r round) time.Duration { return r.job.guest.span("lease", "rootfs") })
	row("agent: rootfs → SSH server ready", func(r round) time.Duration { return r.job.guest.span("rootfs", "ready") })
	row("agent: ready → controller's SSH connection", func(r round) time.Duration { return r.job.guest.span("ready", "ssh") })
	row("agent: SSH connection → command started", func(r round) time.Duration { return r.job.guest.span("ssh", "command") })
	row("agent: init → command started", func(r round) time.Duration { return r.job.guest.span("init", "command") })
	row("**power on → command start** (POWERING_ON → RUNNING)", func(r round) time.Duration { return r.job.powerOnToStart })
	row("command (cat /proc/uptime) over SSH: RUNNING → POWERING_OFF", func(r round) time.Duration { return r.job.runningToOff })
	row("**command end → power off confirmed** (POWERING_OFF → COMPLETED)", func(r round) time.Duration { return r.job.powerOff })
	row("**submit → command start** (idle node)", func(r round) time.Duration { return r.job.submitToStart })
	row("**controller overhead** = power on → start − bare iPXE boot", func(r round) time.Duration { return r.job.powerOnToStart - r.bare.total })
	row("submit → start − (bare iPXE boot + 1 s)", func(r round) time.Duration { return r.job.submitToStart - r.bare.total - time.Second })
	if len(rs) > 0 {
		fmt.Fprintf(w, "\ninitrd served by bmcctld %d bytes (lab initrd + agent), bare %d; rootfs %d bytes\n",
			rs[0].job.initrdBytes, bareInitrd, rs[0].job.rootfsBytes)
	}
	fmt.Fprintln(w, "\nper round: bare iPXE, direct, job power on → start, overhead")
	for i, r := range rs {
		fmt.Fprintf(w, "  %d: %.2f s  %.2f s  %.2f s  %+.2f s (job %s)\n", i+1, r.bare.total.Seconds(), r.direct.total.Seconds(),
			r.job.powerOnToStart.Seconds(), (r.job.powerOnToStart - r.bare.total).Seconds(), r.job.id)
	}
}
