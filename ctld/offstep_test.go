package ctld

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/machine/simnode"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/power/sim"
)

// windowBMC shows what a real BMC's power sensor shows: the mean of the
// machine's draw over its last window, visible lag after that window
// closed, dated at the window's middle (as power/bmc dates it). The
// draw's history is the simulator's energy counter, taken before every step
// of the fake clock: the simulator's draw changes only at those instants,
// so the counter is exact between them.
type windowBMC struct {
	machine.Machine
	sim         *sim.Machine // the truth, read past the BMC's faults
	lag, window time.Duration
	mu          sync.Mutex
	hist        []accounting.Sample // time, cumulative joules
}

func (d *windowBMC) Unwrap() machine.Machine { return d.Machine }

// wrap puts d in front of m, the harness's machine over the simulator.
func (d *windowBMC) wrap(m machine.Machine) machine.Machine {
	d.Machine = m
	d.sim = m.(simnode.Machine).Machine
	return d
}

// record notes the simulator's counter now; the harness calls it before
// each step of the fake clock (harness.beforeStep), so the history holds
// every instant at which the draw can change, also while the BMC stalls.
func (d *windowBMC) record() {
	r := d.sim.Truth()
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := len(d.hist); n == 0 || r.Time.After(d.hist[n-1].Time) {
		d.hist = append(d.hist, accounting.Sample{Time: r.Time, Joules: r.Joules})
	}
}

// joulesAt interpolates the counter at t. Called with d.mu held.
func (d *windowBMC) joulesAt(t time.Time) float64 {
	i := sort.Search(len(d.hist), func(i int) bool { return !d.hist[i].Time.Before(t) })
	switch {
	case i == 0:
		return d.hist[0].Joules
	case i == len(d.hist):
		return d.hist[i-1].Joules
	}
	a, b := d.hist[i-1], d.hist[i]
	return a.Joules + (b.Joules-a.Joules)*t.Sub(a.Time).Seconds()/b.Time.Sub(a.Time).Seconds()
}

func (d *windowBMC) PowerReading(ctx context.Context) (power.Reading, error) {
	r, err := d.Machine.(power.Meter).PowerReading(ctx)
	if err != nil {
		return r, err
	}
	end := r.Time.Add(-d.lag)
	d.mu.Lock()
	if n := len(d.hist); n == 0 || r.Time.After(d.hist[n-1].Time) {
		d.hist = append(d.hist, accounting.Sample{Time: r.Time, Joules: r.Joules})
	}
	w := (d.joulesAt(end) - d.joulesAt(end.Add(-d.window))) / d.window.Seconds()
	d.mu.Unlock()
	return power.Reading{Time: end.Add(-d.window / 2), Watts: w}, nil
}

func (d *windowBMC) Latency() time.Duration { return d.lag + d.window/2 + time.Second }

func (d *windowBMC) Window() time.Duration { return d.window }

// TestThePowerOffIsAStep: a BMC whose readings are window means. The
// reading whose window holds the power-off mixes the job's draw with the
// standby after it, and a trapezoid through it books part of the job's
// last second as standby. The power-off is a step at a known instant:
// the bill must end on the draw before it and the meter count nothing
// after it, for a machine that draws nothing while off.
func TestThePowerOffIsAStep(t *testing.T) {
	for _, lag := range []time.Duration{0, 300 * time.Millisecond, 700 * time.Millisecond} {
		t.Run(lag.String(), func(t *testing.T) {
			dm := &windowBMC{lag: lag, window: time.Second}
			h := newHarness(t, 1, func(h *harness) {
				h.wrap = func(name string, m machine.Machine) machine.Machine { return dm.wrap(m) }
				h.beforeStep = dm.record
			})
			id := h.submit(alice, loadSpec(10*time.Second, 1))[0]
			h.waitState(id, job.Completed)
			h.until("a minute of standby", func() bool { return h.clk.Now().Sub(h.job(id).EndTime) > time.Minute })
			off := h.offEnd(id)
			b, err := h.c.Balance(off, h.clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			if got := b.Nodes[0].StandbyJoules; got > 1 {
				h.dumpEnergy("sim001")
				t.Errorf("%.1f J metered after the power-off; the machine drew nothing", got)
			}
			// The machine was off before the job: all it drew is the job's.
			bill, truth := h.acctJob(id).EnergyJoules, h.truth("sim001")
			if math.Abs(bill-truth) > 0.005*truth {
				t.Errorf("billed %.1f J, the machine drew %.1f J (%+.2f %%)", bill, truth, 100*(bill-truth)/truth)
			}
			h.checkBalance(0)
			if t.Failed() || testing.Verbose() {
				h.logSamples(id)
				t.Logf("off %s", off.Sub(t0))
			}
		})
	}
}

// TestOffStepFromTheLabsReadings replays the readings of a lab power-off
// (2026-12-02 08:49 UTC, a busy job): the truth fell from 105 W to 10 W
// at the off; the BMC (1 s window) showed 104 W, then 56 W for the window
// that held the off, then 56 W again (a stale value read 2 s after the
// off), then 12 W. The stale repeat is no reading of its own, and the
// recording gets the step: the draw before the off that the 56 W implies,
// up to the off, and 12 W from just after it.
func TestOffStepFromTheLabsReadings(t *testing.T) {
	at := func(ms int, w float64) accounting.Sample {
		return accounting.Sample{Time: t0.Add(time.Duration(ms) * time.Millisecond), Watts: w}
	}
	off := t0.Add(30045 * time.Millisecond)
	r := &recording{samples: []accounting.Sample{at(28916, 104)}, offStep: &offStep{lo: off, hi: off, window: time.Second}}
	m := &nodeMeter{holdUntil: off.Add(2800 * time.Millisecond)}
	m.heldRepeat(at(28916, 104), off)
	var got []accounting.Sample
	for _, s := range []accounting.Sample{at(29916, 56), at(30916, 12)} {
		if m.heldRepeat(s, off.Add(time.Second)) {
			t.Errorf("%v taken for a repeat", s)
		}
		got = append(got, offStepLocked(r, s)...)
	}
	if !r.offStep.done || len(r.offStep.held) != 0 {
		t.Errorf("step not done: %+v", r.offStep)
	}
	// The 56 W window is 29.416-30.416: 0.629 s before the off; 12 W
	// fills the 0.371 s after it, so the 0.629 s before drew
	// (56 - 12*0.371) / 0.629 = 81.95 W.
	before := (56 - 12*0.371) / 0.629
	want := []accounting.Sample{at(29416, before), {Time: off, Watts: before}, {Time: off.Add(offStepSliver), Watts: 12}, at(30916, 12)}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || math.Abs(got[i].Watts-want[i].Watts) > 0.01 {
			t.Errorf("reading %d: %s %.2f W, want %s %.2f W", i, got[i].Time.Sub(t0), got[i].Watts, want[i].Time.Sub(t0), want[i].Watts)
		}
	}
	// The stale 56 W, dated as a new publication after the off.
	r = &recording{samples: []accounting.Sample{at(28916, 104)}, offStep: &offStep{lo: off, hi: off, window: time.Second}}
	m = &nodeMeter{holdUntil: off.Add(2800 * time.Millisecond)}
	m.heldRepeat(at(28916, 104), off)
	if m.heldRepeat(at(29916, 56), off.Add(time.Second)) {
		t.Errorf("the reading that holds the off taken for a repeat")
	}
	if out := offStepLocked(r, at(29916, 56)); len(out) != 0 {
		t.Errorf("the reading that holds the off was recorded at once: %v", out)
	}
	if !m.heldRepeat(at(30916, 56), off.Add(2200*time.Millisecond)) {
		t.Errorf("a repeat of the held 56 W after the off not taken for one")
	}
}

// lateOffBMC is a windowBMC whose power-off is confirmed late, as the
// lab's was on the loaded CI host: the machine goes off when asked (the
// agent's in-band power-off follows the command's end at once), and the
// BMC confirms it 2.4 s later (slow ipmitool calls and a confirming poll).
// And from quiet on, while the machine is on, its readings fail (calls
// that time out).
type lateOffBMC struct {
	*windowBMC
	clk   clock.Clock
	mu    sync.Mutex
	quiet time.Time // zero: readings never fail
}

func (d *lateOffBMC) PowerOff(ctx context.Context) error {
	if err := d.windowBMC.PowerOff(ctx); err != nil {
		return err
	}
	<-d.clk.After(2400 * time.Millisecond)
	return nil
}

func (d *lateOffBMC) PowerReading(ctx context.Context) (power.Reading, error) {
	d.mu.Lock()
	quiet := d.quiet
	d.mu.Unlock()
	if st, err := d.Machine.(power.StateGetter).PowerState(ctx); err == nil && st == power.On &&
		!quiet.IsZero() && !d.clk.Now().Before(quiet) {
		return power.Reading{}, fmt.Errorf("sdr get: %w", power.ErrTimeout)
	}
	return d.windowBMC.PowerReading(ctx)
}

// TestAPowerOffConfirmedLateIsAStepWhereItHappened: on the CI host the
// lab's BMC answered no reading for the last 2.4 s before a power-off and
// confirmed the off 2.4 s after it happened. The trapezoid from the last
// reading before the gap to the first after it billed a busy job −4.4 %.
// The off lies between the request and the confirmation, before the
// first reading that shows the machine off: there the step must be.
func TestAPowerOffConfirmedLateIsAStepWhereItHappened(t *testing.T) {
	for _, lag := range []time.Duration{0, 300 * time.Millisecond} {
		t.Run(lag.String(), func(t *testing.T) {
			var dm *lateOffBMC
			h := newHarness(t, 1, func(h *harness) {
				h.wrap = func(name string, m machine.Machine) machine.Machine {
					dm = &lateOffBMC{windowBMC: &windowBMC{lag: lag, window: time.Second}, clk: h.clk}
					dm.windowBMC.wrap(m)
					return dm
				}
				h.beforeStep = func() { dm.record() }
			})
			id := h.submit(alice, loadSpec(10*time.Second, 1))[0]
			run := h.waitState(id, job.Running).RunTime
			dm.mu.Lock()
			dm.quiet = run.Add(7500 * time.Millisecond)
			dm.mu.Unlock()
			h.waitState(id, job.Completed)
			h.until("a minute of standby", func() bool { return h.clk.Now().Sub(h.job(id).EndTime) > time.Minute })
			bill, truth := h.acctJob(id).EnergyJoules, h.truth("sim001")
			if math.Abs(bill-truth) > 0.005*truth {
				h.dumpEnergy("sim001")
				h.logSamples(id)
				t.Errorf("billed %.1f J, the machine drew %.1f J (%+.2f %%)", bill, truth, 100*(bill-truth)/truth)
			}
			h.checkBalance(0)
		})
	}
}

// TestOffStepFromTheCIRun replays the readings around the power-off that
// failed CI (2026-12-02 13:17 UTC): 100 W at 42.589 s, no reading for
// three seconds, the power-off asked for at 45.011 s and confirmed at
// 47.456 s, and 8 W from the reading at 45.589 s (its window from
// 45.089 s) on. The lab's truth drew 85.2 W on average over 42.589-45.589:
// off at about 45.07 s. The step lies between the request and the window
// of the first reading that shows the machine off.
func TestOffStepFromTheCIRun(t *testing.T) {
	at := func(ms int, w float64) accounting.Sample {
		return accounting.Sample{Time: t0.Add(time.Duration(ms) * time.Millisecond), Watts: w}
	}
	lo, hi := t0.Add(45011*time.Millisecond), t0.Add(47456*time.Millisecond)
	r := &recording{samples: []accounting.Sample{at(42589, 100)}, offStep: &offStep{lo: lo, window: time.Second}}
	var got []accounting.Sample
	for _, s := range []accounting.Sample{at(45589, 8), at(46589, 8)} {
		got = append(got, offStepLocked(r, s)...)
	}
	r.offStep.hi = hi // confirmed
	for _, s := range []accounting.Sample{at(47589, 8), at(48589, 8)} {
		got = append(got, offStepLocked(r, s)...)
	}
	off := t0.Add(45050 * time.Millisecond) // the middle of 45.011-45.089
	want := []accounting.Sample{{Time: off, Watts: 100}, {Time: off.Add(offStepSliver), Watts: 8}, at(45589, 8), at(48589, 8)}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Watts != want[i].Watts {
			t.Errorf("reading %d: %s %.2f W, want %s %.2f W", i, got[i].Time.Sub(t0), got[i].Watts, want[i].Time.Sub(t0), want[i].Watts)
		}
	}
	if !r.offStep.done {
		t.Errorf("step not done: %+v", r.offStep)
	}
}

// logSamples logs the readings job id's bill was made from.
func (h *harness) logSamples(id uint64) {
	h.t.Helper()
	js, err := h.c.JobSamples(id)
	if err != nil {
		h.t.Logf("samples of job %d: %v", id, err)
		return
	}
	for _, b := range js.Boots {
		for _, s := range b.Samples {
			h.t.Logf("boot %d sample %s %.1f W", b.Boot, s.Time.Sub(t0), s.Watts)
		}
	}
}
