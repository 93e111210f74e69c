package sim

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/power"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

var small = Model{Kind: "sim-small", Arch: "x86_64", BootTime: 15 * time.Second, IdleWatts: 100, PeakWatts: 300}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, dir string, clk clock.Clock) *Machine {
	t.Helper()
	m, err := Open(dir, "n1", small, clk)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustState(t *testing.T, m *Machine, want power.State) {
	t.Helper()
	got, err := m.PowerState(context.Background())
	if err != nil || got != want {
		t.Fatalf("PowerState = %v, %v; want %v", got, err, want)
	}
}

func reading(t *testing.T, m *Machine) power.Reading {
	t.Helper()
	r, err := m.PowerReading(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestPowerCycleBootAndWatts(t *testing.T) {
	clk := clock.NewFake(t0)
	m := open(t, t.TempDir(), clk)
	ctx := testCtx(t)

	mustState(t, m, power.Off)
	if r := reading(t, m); r.Watts != 0 || r.Joules != 0 || !r.Counter {
		t.Fatalf("off reading = %+v", r)
	}
	if err := m.WaitReady(ctx); !errors.Is(err, ErrPoweredOff) {
		t.Fatalf("WaitReady while off = %v, want ErrPoweredOff", err)
	}
	if err := m.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.PowerOn(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	mustState(t, m, power.On)
	if err := m.Start(ctx, 1, job.SimSpec{Runtime: job.Duration(time.Minute)}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Start while booting = %v, want ErrNotReady", err)
	}

	ready := make(chan error, 1)
	go func() { ready <- m.WaitReady(ctx) }()
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(14 * time.Second)
	select {
	case err := <-ready:
		t.Fatalf("ready after 14 s of a 15 s boot: %v", err)
	default:
	}
	if r := reading(t, m); r.Watts != 100 || !near(r.Joules, 1400) {
		t.Fatalf("booting reading = %+v, want idle 100 W, 1400 J", r)
	}
	clk.Advance(time.Second)
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	if !m.Ready() {
		t.Fatal("Ready() false after boot")
	}

	if err := m.Start(ctx, 7, job.SimSpec{Runtime: job.Duration(10 * time.Second), Load: 0.5, ExitCode: 3}); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx, 8, job.SimSpec{Runtime: job.Duration(time.Second)}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second job = %v, want ErrBusy", err)
	}
	if r := reading(t, m); r.Watts != 200 {
		t.Fatalf("running at load 0.5: %v W, want 200", r.Watts)
	}
	if running, _, _, known := m.Status(7); !running || !known {
		t.Fatalf("Status(7) running=%v known=%v", running, known)
	}

	exit := make(chan int, 1)
	go func() {
		code, err := m.Wait(ctx, 7)
		if err != nil {
			t.Error(err)
		}
		exit <- code
	}()
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	if code := <-exit; code != 3 {
		t.Fatalf("exit = %d, want 3", code)
	}
	running, code, ended, known := m.Status(7)
	if running || code != 3 || !ended.Equal(t0.Add(25*time.Second)) || !known {
		t.Fatalf("Status(7) = %v %d %v %v", running, code, ended, known)
	}
	// 15 s boot at 100 W + 10 s at 200 W + 5 s idle at 100 W.
	clk.Advance(5 * time.Second)
	if r := reading(t, m); r.Watts != 100 || !near(r.Joules, 1500+2000+500) {
		t.Fatalf("after job: %+v, want 100 W and 4000 J", r)
	}
	if err := m.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.PowerOff(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	mustState(t, m, power.Off)
	clk.Advance(time.Hour)
	if r := reading(t, m); r.Watts != 0 || !near(r.Joules, 4000) {
		t.Fatalf("off for an hour: %+v, want 0 W and still 4000 J", r)
	}
}

func TestPowerOffKillsCommand(t *testing.T) {
	clk := clock.NewFake(t0)
	m := open(t, "", clk)
	ctx := testCtx(t)
	if err := m.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(small.BootTime)
	if err := m.Start(ctx, 1, job.SimSpec{Runtime: job.Duration(time.Hour), Load: 1}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := m.Wait(ctx, 1)
		errc <- err
	}()
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := m.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	if !errors.Is(err, ErrPoweredOff) || !strings.Contains(err.Error(), "simulated") {
		t.Fatalf("Wait after power off = %v, want ErrPoweredOff saying simulated", err)
	}
	running, code, ended, known := m.Status(1)
	if running || code != KilledExit || !ended.Equal(t0.Add(small.BootTime+time.Minute)) || !known {
		t.Fatalf("Status = %v %d %v %v", running, code, ended, known)
	}
	// 15 s idle + 60 s at peak.
	if r := reading(t, m); !near(r.Joules, 1500+60*300) {
		t.Fatalf("joules = %v", r.Joules)
	}
	// Powering on again must not revive the command.
	if err := m.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	if running, _, _, _ := m.Status(1); running {
		t.Fatal("killed command runs again after power on")
	}
	if r := reading(t, m); r.Watts != 100 {
		t.Fatalf("watts after re-power = %v, want idle", r.Watts)
	}
	// The job requeued to the same machine runs anew in this power session.
	clk.Advance(small.BootTime)
	if err := m.Start(ctx, 1, job.SimSpec{Runtime: job.Duration(time.Second), ExitCode: 4}); err != nil {
		t.Fatal(err)
	}
	if running, _, _, _ := m.Status(1); !running {
		t.Fatal("requeued job attached to its killed run instead of running")
	}
	clk.Advance(time.Second)
	if code, err := m.Wait(ctx, 1); err != nil || code != 4 {
		t.Fatalf("Wait = %d, %v; want 4", code, err)
	}
}

func TestPowerOffWhileBootingFailsWaitReady(t *testing.T) {
	clk := clock.NewFake(t0)
	m := open(t, "", clk)
	ctx := testCtx(t)
	if err := m.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- m.WaitReady(ctx) }()
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := m.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrPoweredOff) {
		t.Fatalf("WaitReady = %v, want ErrPoweredOff", err)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	clk := clock.NewFake(t0)
	m := open(t, "", clk)
	ctx := testCtx(t)
	if err := m.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(small.BootTime)
	if err := m.Start(ctx, 1, job.SimSpec{Runtime: job.Duration(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Wait(cctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	if _, err := m.Wait(ctx, 99); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("Wait unknown = %v, want ErrUnknownJob", err)
	}
	if _, _, _, known := m.Status(99); known {
		t.Fatal("Status knows a job never started")
	}
}

// TestRestartKeepsTruth is the kill -9 case: a second Machine opened on the
// same directory, with no call on the first one in between, sees what the
// machine did while nobody watched.
func TestRestartKeepsTruth(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(t0)
	ctx := testCtx(t)
	m1 := open(t, dir, clk)
	if err := m1.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(small.BootTime)
	spec := job.SimSpec{Runtime: job.Duration(30 * time.Second), Load: 1, ExitCode: 42}
	if err := m1.Start(ctx, 5, spec); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)

	// "Restart" mid-command: still on, still running, and Start attaches.
	m2 := open(t, dir, clk)
	mustState(t, m2, power.On)
	if running, _, _, known := m2.Status(5); !running || !known {
		t.Fatalf("after restart: running=%v known=%v", running, known)
	}
	if err := m2.Start(ctx, 5, spec); err != nil {
		t.Fatalf("re-Start after restart = %v, want attach", err)
	}
	clk.Advance(time.Hour) // the controller is down while the command ends

	m3 := open(t, dir, clk)
	running, code, ended, known := m3.Status(5)
	if running || code != 42 || !ended.Equal(t0.Add(small.BootTime+30*time.Second)) || !known {
		t.Fatalf("after second restart Status = %v %d %v %v", running, code, ended, known)
	}
	if code, err := m3.Wait(ctx, 5); err != nil || code != 42 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	// The energy the machine used while nobody watched is billed too:
	// 15 s boot idle + 30 s peak + 3600-20 s idle.
	want := 15*100.0 + 30*300.0 + (3600-20)*100.0
	if r := reading(t, m3); !near(r.Joules, want) {
		t.Fatalf("joules after restart = %v, want %v", r.Joules, want)
	}
	if err := m3.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	m4 := open(t, dir, clk)
	mustState(t, m4, power.Off)
	if r := reading(t, m4); !near(r.Joules, want) {
		t.Fatalf("joules after off+restart = %v, want %v", r.Joules, want)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if len(left) != 0 {
		t.Fatalf("temp files left behind: %v", left)
	}
}

func TestOpenRejects(t *testing.T) {
	clk := clock.NewFake(t0)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		node string
		m    Model
	}{
		{"empty name", "", small},
		{"path in name", "../x", small},
		{"peak below idle", "n1", Model{IdleWatts: 100, PeakWatts: 50}},
		{"negative boot", "n1", Model{BootTime: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(dir, tc.node, tc.m, clk); err == nil {
				t.Fatal("Open accepted it")
			}
		})
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, "bad", small, clk); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.json"), []byte(`{"version":1,"name":"n9"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, "other", small, clk); err == nil {
		t.Fatal("accepted another machine's state file")
	}
}

func TestSaveFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(t0)
	m := open(t, dir, clk)
	// A directory that vanished makes every write fail (tests run as root, so
	// permissions would not).
	m.path = filepath.Join(dir, "missing-dir", "n1.json")
	if err := m.PowerOn(context.Background()); err == nil {
		t.Fatal("PowerOn succeeded without persisting")
	}
	mustState(t, m, power.Off)
}

func TestStringsSaySimulated(t *testing.T) {
	m := open(t, "", clock.NewFake(t0))
	if !strings.Contains(m.String(), "simulated") {
		t.Fatalf("String() = %q", m.String())
	}
	for _, err := range []error{ErrPoweredOff, ErrNotReady, ErrBusy, ErrUnknownJob} {
		if !strings.Contains(err.Error(), "simulated") {
			t.Errorf("%q does not say simulated", err)
		}
	}
}

// BenchmarkTenThousandMachines measures what a 10,000-node scheduler test pays
// per machine for a power-on, a job and a reading, in memory.
func BenchmarkTenThousandMachines(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		clk := clock.NewFake(t0)
		ms := make([]*Machine, 10000)
		for i := range ms {
			m, err := Open("", "n"+strconv.Itoa(i), small, clk)
			if err != nil {
				b.Fatal(err)
			}
			ms[i] = m
			if err := m.PowerOn(ctx); err != nil {
				b.Fatal(err)
			}
		}
		clk.Advance(small.BootTime)
		for i, m := range ms {
			if err := m.Start(ctx, uint64(i), job.SimSpec{Runtime: job.Duration(time.Minute), Load: 0.5}); err != nil {
				b.Fatal(err)
			}
			if _, err := m.PowerReading(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}
