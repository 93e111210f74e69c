package sim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/power"
)

// running returns a machine that booted and started job 1 with spec.
func running(t *testing.T, clk *clock.Fake, spec job.SimSpec) *Machine {
	t.Helper()
	m := open(t, "", clk)
	ctx := testCtx(t)
	if err := m.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(small.BootTime)
	if got := m.LastContact(); !got.Equal(clk.Now()) {
		t.Errorf("LastContact of a live machine = %v, want now", got)
	}
	if err := m.Start(ctx, 1, spec); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRefuseOffCountsDown(t *testing.T) {
	clk := clock.NewFake(t0)
	m := open(t, "", clk)
	ctx := testCtx(t)
	if err := m.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	m.SetFaults(Faults{RefuseOff: 2})
	for i := range 2 {
		if err := m.PowerOff(ctx); !errors.Is(err, ErrRefused) {
			t.Fatalf("power off %d = %v, want ErrRefused", i+1, err)
		}
		mustState(t, m, power.On)
	}
	if err := m.PowerOff(ctx); err != nil {
		t.Fatalf("third power off = %v", err)
	}
	mustState(t, m, power.Off)
	if f := m.Faults(); f.RefuseOff != 0 {
		t.Errorf("RefuseOff left at %d", f.RefuseOff)
	}
}

func TestUnreachableBMCFailsEveryCallButTheMachineGoesOn(t *testing.T) {
	clk := clock.NewFake(t0)
	m := running(t, clk, job.SimSpec{Runtime: job.Duration(time.Minute), ExitCode: 2})
	ctx := testCtx(t)
	m.SetFaults(Faults{Unreachable: true})
	if _, err := m.PowerState(ctx); !errors.Is(err, power.ErrUnreachable) {
		t.Errorf("PowerState = %v", err)
	}
	if err := m.PowerOff(ctx); !errors.Is(err, power.ErrUnreachable) {
		t.Errorf("PowerOff = %v", err)
	}
	if _, err := m.PowerReading(ctx); !errors.Is(err, power.ErrUnreachable) {
		t.Errorf("PowerReading = %v", err)
	}
	clk.Advance(time.Minute)
	if code, err := m.Wait(ctx, 1); code != 2 || err != nil {
		t.Errorf("the command behind a dead BMC: %d, %v; want exit 2", code, err)
	}
	m.SetFaults(Faults{})
	mustState(t, m, power.On)
}

func TestStalledBMCWaitsForContextOrRepair(t *testing.T) {
	clk := clock.NewFake(t0)
	m := open(t, "", clk)
	ctx := testCtx(t)
	m.SetFaults(Faults{Stall: true})
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- m.PowerOn(cctx) }()
	cancel()
	if err := <-errc; !errors.Is(err, power.ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("stalled PowerOn = %v, want ErrTimeout and the context's error", err)
	}
	mustStateErr := func() {
		go func() { errc <- m.PowerOn(ctx) }()
		m.SetFaults(Faults{})
		if err := <-errc; err != nil {
			t.Fatalf("PowerOn once the BMC answers = %v", err)
		}
	}
	mustStateErr()
	mustState(t, m, power.On)
}

func TestFrozenMachineNeverEndsItsCommandUntilSwitchedOff(t *testing.T) {
	clk := clock.NewFake(t0)
	m := running(t, clk, job.SimSpec{Runtime: job.Duration(time.Second)})
	ctx := testCtx(t)
	frozeAt := clk.Now()
	m.SetFaults(Faults{Frozen: true})
	clk.Advance(time.Hour)
	if got := m.LastContact(); !got.Equal(frozeAt) {
		t.Errorf("LastContact of a frozen machine = %v, want %v", got, frozeAt)
	}
	if running, _, _, _ := m.Status(1); !running {
		t.Error("a frozen machine's command is reported ended")
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond) // guards the test; the fake clock does not move
	if _, err := m.Wait(wctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on a frozen machine = %v, want it to block until its context ends", err)
	}
	cancel()
	errc := make(chan error, 1)
	go func() { _, err := m.Wait(ctx, 1); errc <- err }()
	if err := m.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrPoweredOff) {
		t.Errorf("Wait after the power-off = %v, want ErrPoweredOff", err)
	}
	if f := m.Faults(); f.Frozen || !m.LastContact().IsZero() {
		t.Errorf("after the power-off: %+v, last contact %v", f, m.LastContact())
	}
}
