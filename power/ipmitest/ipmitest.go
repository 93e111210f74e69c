// Package ipmitest owns a test helper that starts a real OpenIPMI ipmi_sim BMC
// on 127.0.0.1 for one test: RMCP+ users from a lan.conf, a "machine" that is a
// real process the BMC starts on power on and kills on power off (startcmd),
// and a "Sys Power" Watts SDR sensor that ipmi_sim polls from a file the test
// writes. Tests of drivers and meters talk to it with the real ipmitool.
package ipmitest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/node"
)

// SensorName is the SDR sensor that reports the machine's watts.
const SensorName = "Sys Power"

// SensorResolution is the sensor's step in watts (M=4 in its SDR record).
const SensorResolution = 4.0

// Options shape the simulated BMC. Zero values take the defaults.
type Options struct {
	User     string  // default "admin"
	Password string  // default "password"
	Watts    float64 // initial sensor value, default 120
	// PoweroffWait is how long ipmi_sim keeps the machine running after a
	// power off request, in whole seconds (its poweroff_wait); default 1, so
	// tests see the asynchronous off that real BMCs show.
	PoweroffWait int
}

// BMC is one running ipmi_sim.
type BMC struct {
	Dir          string
	Host         string
	Port         int
	User         string
	Password     string
	PasswordFile string // holds Password + "\n", as an admin would write it
	WattsFile    string

	cmd *exec.Cmd
}

// InstallHint is what a test says when the simulator is missing.
const InstallHint = "ipmi_sim and ipmitool are required: apt-get install -y openipmi ipmitool"

// Start runs ipmi_sim for the test and stops it (and its machine) on cleanup.
// It fails the test when ipmi_sim or ipmitool is not installed: these tests
// must run in CI, never skip.
func Start(t testing.TB, o Options) *BMC {
	t.Helper()
	sim, err := exec.LookPath("ipmi_sim")
	if err != nil {
		t.Fatalf("%s (%v)", InstallHint, err)
	}
	if _, err := exec.LookPath("ipmitool"); err != nil {
		t.Fatalf("%s (%v)", InstallHint, err)
	}
	if o.User == "" {
		o.User = "admin"
	}
	if o.Password == "" {
		o.Password = "password"
	}
	if o.Watts == 0 {
		o.Watts = 120
	}
	if o.PoweroffWait == 0 {
		o.PoweroffWait = 1
	}
	dir := t.TempDir()
	b := &BMC{
		Dir:          dir,
		Host:         "127.0.0.1",
		Port:         freePort(t, "udp"),
		User:         o.User,
		Password:     o.Password,
		PasswordFile: filepath.Join(dir, "bmc-password"),
		WattsFile:    filepath.Join(dir, "power_watts"),
	}
	serial := freePort(t, "tcp")
	machine := filepath.Join(dir, "machine.sh")
	files := map[string]string{
		b.PasswordFile:                 o.Password + "\n",
		b.WattsFile:                    wattsText(o.Watts),
		machine:                        machineScript(dir),
		filepath.Join(dir, "lan.conf"): lanConf(b, serial, machine, o.PoweroffWait),
		filepath.Join(dir, "node.emu"): nodeEmu(b.WattsFile),
	}
	for p, content := range files {
		mode := os.FileMode(0o600)
		if p == machine {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "ipmi_sim.log"))
	if err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(sim, "-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "node.emu"),
		"-s", filepath.Join(dir, "state"), "-n")
	b.cmd.Dir = dir
	b.cmd.Stdout, b.cmd.Stderr = log, log
	// Its own process group, so cleanup also ends the machine it started.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("start ipmi_sim: %v", err)
	}
	t.Cleanup(func() {
		b.stop()
		log.Close()
	})
	if err := waitUDPBound(b.Port, 10*time.Second); err != nil {
		out, _ := os.ReadFile(filepath.Join(dir, "ipmi_sim.log"))
		t.Fatalf("ipmi_sim did not come up: %v\n%s", err, out)
	}
	return b
}

// Config is the node.BMC a driver or meter needs for this BMC.
func (b *BMC) Config() node.BMC {
	return node.BMC{
		Protocol:     "ipmi",
		Address:      b.Host,
		Port:         b.Port,
		User:         b.User,
		PasswordFile: b.PasswordFile,
		CipherSuite:  "3", // this ipmi_sim does not offer 17; without -C every call wastes ~10 s
		PowerSensor:  SensorName,
	}
}

// SetWatts writes the value ipmi_sim reads for the power sensor (it polls the
// file once a second).
func (b *BMC) SetWatts(t testing.TB, w float64) {
	t.Helper()
	tmp := b.WattsFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(wattsText(w)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, b.WattsFile); err != nil {
		t.Fatal(err)
	}
}

// MachineRunning reports whether the machine process the BMC powers is alive.
func (b *BMC) MachineRunning() bool {
	raw, err := os.ReadFile(filepath.Join(b.Dir, "machine.pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return false
	}
	// A killed child ipmi_sim has not reaped yet is a zombie: not running.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(stat))
	return len(f) > 2 && f[2] != "Z"
}

// WaitMachine polls until the machine process is running (or not), or ctx ends.
func (b *BMC) WaitMachine(ctx context.Context, running bool) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for b.MachineRunning() != running {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("machine running=%v never came: %w", running, ctx.Err())
		}
	}
	return nil
}

// Ipmitool runs ipmitool against this BMC with the password in the
// environment, for tests that check a driver against the BMC's own answer.
func (b *BMC) Ipmitool(ctx context.Context, args ...string) (string, error) {
	base := []string{"-I", "lanplus", "-H", b.Host, "-p", strconv.Itoa(b.Port), "-U", b.User, "-E", "-C", "3"}
	cmd := exec.CommandContext(ctx, "ipmitool", append(base, args...)...)
	cmd.Env = []string{"IPMI_PASSWORD=" + b.Password}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (b *BMC) stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	_ = b.cmd.Wait()
	// The machine may have been moved to its own group by the shell; end it too.
	if raw, err := os.ReadFile(filepath.Join(b.Dir, "machine.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func wattsText(w float64) string { return strconv.FormatFloat(w, 'f', 0, 64) + "\n" }

// machineScript stands in for QEMU: a process whose life is the power state.
func machineScript(dir string) string {
	return "#!/bin/sh\necho $$ > " + shQuote(filepath.Join(dir, "machine.pid")) + "\nexec sleep 100000\n"
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// lanConf follows vlab-recipe/mk-node.sh: one LAN channel on loopback, the VM
// serial channel 15 that startcmd power control needs, and the users.
func lanConf(b *BMC, serial int, machine string, poweroffWait int) string {
	return fmt.Sprintf(`# ipmi_sim for a test
name "ipmitest"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 %d
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  serial 15 127.0.0.1 %d codec VM
  startcmd "%s"
  startnow false
  poweroff_wait %d
  kill_wait 1
  user 2 true  "%s"   "%s" admin    10  none md2 md5 straight
`, b.Port, serial, machine, poweroffWait, b.User, b.Password)
}

// nodeEmu defines the BMC and its "Sys Power" sensor: type current (0x03),
// threshold, unit Watts, M=4 so raw = W/4 (0..1020 W), polled from the file
// every second. The SDR record bytes are those of vlab-recipe/mk-node.sh.
func nodeEmu(wattsFile string) string {
	return `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02
sel_enable 0x20 1000 0x0a
sensor_add 0x20 0 0 35 0x6f event-only
sensor_set_event_support 0x20 0 0 enable scanning per-state 000000000001111 000000000000000 000000000001111 000000000000000
sensor_add 0x20 0 1 0x03 0x01 poll 1000 file "` + wattsFile + `" div=4
sensor_set_event_support 0x20 0 1 enable scanning per-state 000000000000000 000000000000000 000000000000000 000000000000000
main_sdr_add 0x20 0x00 0x00 0x51 0x01 0x34 0x20 0x00 0x01 0x07 0x01 0x03 0x40 0x03 0x01 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x06 0x00 0x00 0x04 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0xff 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0xc9 0x53 0x79 0x73 0x20 0x50 0x6f 0x77 0x65 0x72
mc_enable 0x20
`
}

// freePort asks the kernel for a free loopback port.
func freePort(t testing.TB, network string) int {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}

// FreeUDPPort is a loopback UDP port nothing listens on, for tests of an
// unreachable BMC.
func FreeUDPPort(t testing.TB) int { return freePort(t, "udp") }

// waitUDPBound polls /proc/net/udp until a socket is bound to 127.0.0.1:port:
// ipmi_sim prints nothing when it is ready.
func waitUDPBound(port int, within time.Duration) error {
	want := fmt.Sprintf("0100007F:%04X", port)
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		bound, err := udpBound(want)
		if err != nil {
			return err
		}
		if bound {
			return nil
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return errors.New("no socket bound to 127.0.0.1:" + strconv.Itoa(port))
		}
	}
}

func udpBound(local string) (bool, error) {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return false, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 1 && fields[1] == local {
			return true, nil
		}
	}
	return false, s.Err()
}
