//go:build vlab

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// eventDetail is the detail of the job's first event in state s.
func eventDetail(d api.JobDetail, s job.State) string {
	for _, e := range d.Events {
		if e.State == s {
			return e.Detail
		}
	}
	return ""
}

// allowKexec sets kexec = true on every node of the lab's nodes file and
// restarts bmcctld on it. Call it with no job on any node.
func (l *lab) allowKexec(t *testing.T, ctx context.Context) {
	t.Helper()
	path := filepath.Join(l.dir, "nodes.toml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "\n[node.bmc]\n", "\nkexec = true\n[node.bmc]\n")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	l.restartDaemonT(t, ctx)
}

// resetReuse runs two jobs of the same user back to back on the node want:
// the second gets the running machine after a reset (no power cycle) with a
// clean root, and the node powers off after it. spec makes a job file of
// the lab's image for that node from a name and the job's own lines.
func resetReuse(t *testing.T, ctx context.Context, l *lab, work, want string, spec func(name, body string) string) {
	t.Helper()
	// The background loop outlives its job's command on purpose, and
	// ticks in /dev, the one place both jobs' roots share (the machine's
	// devtmpfs): if it survived the reset, the counter moves.
	dirty := l.submit(work, spec("dirty", `command = "echo left > /tmp/left; echo left > /left; setsid sh -c 'i=0; while :; do i=$((i+1)); echo $i > /dev/bmc-alive; sleep 1; done' </dev/null >/dev/null 2>&1 & sleep 3; echo FOO=$FOO"
[environment]
FOO = "bar"`))
	clean := l.submit(work, spec("clean", `command = "ls /tmp /left 2>&1; a=$(cat /dev/bmc-alive); sleep 3; b=$(cat /dev/bmc-alive); if [ -n \"$a\" ] && [ \"$a\" = \"$b\" ]; then echo background-gone; else echo background-alive $a $b; fi; echo FOO=$FOO; echo done"`))
	d1 := l.waitFor(ctx, dirty, state(job.Completed))
	d2 := l.waitFor(ctx, clean, state(job.Completed))
	if d1.Node != want || d2.Node != want {
		t.Errorf("the jobs ran on %s and %s, want both on %s", d1.Node, d2.Node, want)
	}
	if got := eventDetail(d2, job.PoweringOn); !strings.HasPrefix(got, "reset") {
		t.Errorf("second job's POWERING_ON: %q, want a reset", got)
	}
	if got := eventDetail(d2, job.Running); !strings.HasPrefix(got, "reset in") {
		t.Errorf("second job's RUNNING: %q", got)
	}
	out1, _ := os.ReadFile(d1.Output)
	out2, err := os.ReadFile(d2.Output)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first job:\n%s\nsecond job:\n%s", out1, out2)
	o := string(out2)
	if strings.Contains(o, "left") && !strings.Contains(o, "/left: No such file") {
		t.Errorf("a file of the first job survived:\n%s", o)
	}
	if !strings.Contains(o, "background-gone") || strings.Contains(o, "FOO=bar") || !strings.Contains(o, "done") {
		t.Errorf("the first job's process or environment survived, or the job did not finish:\n%s", o)
	}
	gap := powerOnToRunning(t, d2)
	t.Logf("reset: POWERING_ON → RUNNING %s (first job's boot %s)", gap.Round(10*time.Millisecond), powerOnToRunning(t, d1).Round(10*time.Millisecond))
	if gap > 10*time.Second {
		t.Errorf("the reset took %s: as long as a boot", gap)
	}
	n := l.nodeDetail(ctx, want)
	acts := actions(n.Events)
	for _, a := range []string{"idle_on", "reuse"} {
		if !slices.Contains(acts, a) {
			t.Errorf("node events %v lack %s", acts, a)
		}
	}
	l.untilNode(ctx, want, "off after the last job", func(n api.NodeDetail) bool { return n.State == "IDLE" })
}

// One x86_64 machine runs two jobs of the same user back to back: the
// second gets the running machine after a reset (no power cycle) with a
// clean root; then, with kexec = true, a job with another command line
// gets it through kexec.
func TestLabReuse(t *testing.T) {
	l := labUp(t, 1, 400)
	work := workDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	t.Run("reset: same user, same boot, fresh root", func(t *testing.T) {
		resetReuse(t, ctx, l, work, "vnode1", func(name, body string) string { return l.job(name, "", body) })
	})

	t.Run("kexec: same user, another command line", func(t *testing.T) {
		l.allowKexec(t, ctx)
		a := l.submit(work, l.job("k1", "", `cmdline = "quiet bmc_k=1"
command = "cat /proc/cmdline"`))
		b := l.submit(work, l.job("k2", "", `cmdline = "quiet bmc_k=2"
command = "cat /proc/cmdline; ls /tmp"`))
		l.waitFor(ctx, a, state(job.Completed))
		d := l.waitFor(ctx, b, state(job.Completed))
		if got := eventDetail(d, job.Running); !strings.HasPrefix(got, "kexec'd in") {
			t.Errorf("second job's RUNNING: %q (BOOTING: %q), want a kexec", got, eventDetail(d, job.Booting))
		}
		out, _ := os.ReadFile(d.Output)
		if !strings.Contains(string(out), "bmc_k=2") || strings.Contains(string(out), "bmc.token") {
			t.Errorf("kexec'd job's /proc/cmdline:\n%s", out)
		}
		t.Logf("kexec: POWERING_ON → RUNNING %s", powerOnToRunning(t, d).Round(10*time.Millisecond))
	})
}

// The aarch64 machine (UEFI HTTP Boot + GRUB) is reused by reset like the
// x86 one, with the same clean-root checks. Debian's arm64 kernel has no
// kexec_file_load; the agent kexecs there with the kexec-tools its archive
// carries (kexec_load), so a job of the same user with another command
// line starts on the same QEMU (no power cycle: its PID stays, the firmware
// does not run again) with a clean root. One lab serves both, to spare a
// bring-up.
func TestLabReuseArm(t *testing.T) {
	l := labUp(t, 1, 500, "--arm", "1")
	work := workDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	image := "oci:" + filepath.Join(l.dir, "images", "busybox-multi")
	spec := func(name, body string) string {
		return fmt.Sprintf("name = %q\nimage = %q\narch = \"aarch64\"\ntime_limit = \"10:00\"\n%s\n", name, image, body)
	}

	t.Run("reset: same user, same boot, fresh root", func(t *testing.T) {
		resetReuse(t, ctx, l, work, "varm1", spec)
	})

	t.Run("kexec: same user, another command line, no power cycle", func(t *testing.T) {
		l.allowKexec(t, ctx)
		serial := filepath.Join(l.dir, "arm1", "serial.log")
		// The firmware says this once per power on, before its HTTP Boot.
		firmwareBoots := func() int { b, _ := os.ReadFile(serial); return strings.Count(string(b), "BdsDxe: loading") }
		before := firmwareBoots()
		a := l.submit(work, spec("a1", `cmdline = "quiet bmc_k=1"
command = "echo left > /tmp/left; echo left > /left; sleep 4; cat /proc/cmdline; echo FOO=$FOO"
[environment]
FOO = "bar"`))
		b := l.submit(work, spec("a2", `cmdline = "quiet bmc_k=2"
command = "sleep 4; cat /proc/cmdline; for f in /tmp/left /left; do test -e $f && echo survived $f; done; echo FOO=$FOO; echo done"`))
		l.waitFor(ctx, a, state(job.Running))
		pidA := qemuPID(t, l, "arm1")
		l.waitFor(ctx, b, state(job.Running))
		pidB := qemuPID(t, l, "arm1")
		d1 := l.waitFor(ctx, a, state(job.Completed))
		d := l.waitFor(ctx, b, state(job.Completed))
		if got := eventDetail(d, job.PoweringOn); !strings.HasPrefix(got, "kexec") {
			t.Errorf("POWERING_ON: %q, want a kexec", got)
		}
		if got := eventDetail(d, job.Running); !strings.HasPrefix(got, "kexec'd in") {
			t.Errorf("second job's RUNNING: %q (BOOTING: %q), want a kexec", got, eventDetail(d, job.Booting))
		}
		if pidA != pidB {
			t.Errorf("QEMU's PID went %d → %d between the jobs: the machine was power-cycled", pidA, pidB)
		}
		if n := firmwareBoots() - before; n != 1 {
			t.Errorf("%d firmware boots for the two jobs, want 1: the kexec went through the firmware", n)
		}
		out, err := os.ReadFile(d.Output)
		if err != nil {
			t.Fatal(err)
		}
		o := string(out)
		t.Logf("second job:\n%s", o)
		if !strings.Contains(o, "bmc_k=2") || strings.Contains(o, "bmc_k=1") || strings.Contains(o, "bmc.token") {
			t.Errorf("kexec'd job's /proc/cmdline is not the new one, token-free:\n%s", o)
		}
		if strings.Contains(o, "survived") || strings.Contains(o, "FOO=bar") || !strings.Contains(o, "done") {
			t.Errorf("a file or the environment of the first job survived, or the job did not finish:\n%s", o)
		}
		gap := powerOnToRunning(t, d)
		t.Logf("kexec: POWERING_ON → RUNNING %s (first job's boot %s)", gap.Round(10*time.Millisecond), powerOnToRunning(t, d1).Round(10*time.Millisecond))
	})
}

// qemuPID is the PID of node dir's running QEMU (its -pidfile).
func qemuPID(t *testing.T, l *lab, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.dir, dir, "qemu.pid"))
	if err != nil {
		t.Fatalf("%s: no QEMU running: %v", dir, err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil {
		t.Fatalf("%s/qemu.pid: %v", dir, err)
	}
	return pid
}
