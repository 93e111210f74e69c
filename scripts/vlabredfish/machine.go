// Package vlabredfish owns what a lab node behind the Redfish BMC
// (power/redfishtest) is made of: a QEMU process the BMC starts and kills,
// as ipmi_sim's startcmd does, and the files vlab-meter writes, which the
// BMC reads its watts (the sensor's view) and its energy counter (the truth)
// from.
package vlabredfish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bmc-sched/bmc/power/redfishtest"
	"github.com/bmc-sched/bmc/scripts/vlabmeter"
)

// QEMU is a lab machine: StartCmd execs QEMU with "-pidfile PIDFile".
type QEMU struct {
	StartCmd string
	PIDFile  string
	Log      io.Writer // QEMU's output (nil: discarded)
	// KillWait is how long a machine may take to exit after SIGTERM before
	// it gets SIGKILL (ipmi_sim's kill_wait); default 5 s.
	KillWait time.Duration
	// Procs finds the running QEMU (default /proc).
	Procs vlabmeter.Processes
}

var _ redfishtest.Machine = (*QEMU)(nil)

// poll is how often start and stop look at the process: QEMU starts and
// exits in tens of milliseconds.
const poll = 20 * time.Millisecond

func (q *QEMU) procs() vlabmeter.Processes {
	if q.Procs == nil {
		return vlabmeter.ProcFS{Root: "/proc"}
	}
	return q.Procs
}

// Running implements redfishtest.Machine.
func (q *QEMU) Running() bool {
	_, _, ok := q.procs().QEMU(q.PIDFile)
	return ok
}

// PowerOn starts the machine and returns once QEMU has written its PID
// file, or with the reason it did not.
func (q *QEMU) PowerOn(ctx context.Context) error {
	if q.Running() {
		return nil
	}
	_ = os.Remove(q.PIDFile) // a stale one from a killed QEMU
	cmd := exec.Command(q.StartCmd)
	cmd.Stdout, cmd.Stderr = q.Log, q.Log
	// Its own session: QEMU outlives a BMC restart, as a real machine does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", q.StartCmd, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	t := time.NewTicker(poll)
	defer t.Stop()
	for !q.Running() {
		select {
		case err := <-exited:
			return fmt.Errorf("%s exited before the machine came up: %v", q.StartCmd, err)
		case <-ctx.Done():
			return fmt.Errorf("%s: no running QEMU behind %s: %w", q.StartCmd, q.PIDFile, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// PowerOff stops the machine: SIGTERM (QEMU exits at once; the busybox
// guests run no ACPI daemon, so graceful and forced are the same here),
// then SIGKILL after KillWait. It returns once the process is gone.
func (q *QEMU) PowerOff(ctx context.Context, graceful bool) error {
	pid, _, ok := q.procs().QEMU(q.PIDFile)
	if !ok {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop QEMU %d: %w", pid, err)
	}
	wait := q.KillWait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	kill := time.NewTimer(wait)
	defer kill.Stop()
	t := time.NewTicker(poll)
	defer t.Stop()
	for q.Running() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop QEMU %d: %w", pid, ctx.Err())
		case <-kill.C:
			_ = syscall.Kill(pid, syscall.SIGKILL)
		case <-t.C:
		}
	}
	return nil
}

// Files is a redfishtest.Meter on vlab-meter's files: the sensor's watts
// (power_watts) and the ground-truth joules (energy_joules).
type Files struct {
	WattsFile, JoulesFile string
}

var _ redfishtest.Meter = Files{}

// Watts implements redfishtest.Meter.
func (f Files) Watts() (float64, error) { return readNumber(f.WattsFile) }

// Joules implements redfishtest.Meter.
func (f Files) Joules() (float64, error) { return readNumber(f.JoulesFile) }

func readNumber(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s holds %q, not a reading", path, b)
	}
	return v, nil
}
