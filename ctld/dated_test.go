package ctld

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/power"
)

// datedMeter dates each of the sim machine's readings lag before the read,
// as a BMC's late mean is dated (power/bmc), and keeps what it returned.
type datedMeter struct {
	machine.Machine
	lag    time.Duration
	window time.Duration
	mu     sync.Mutex
	dated  []time.Time
}

func (d *datedMeter) PowerReading(ctx context.Context) (power.Reading, error) {
	r, err := d.Machine.(power.Meter).PowerReading(ctx)
	if err == nil {
		r.Time = r.Time.Add(-d.lag)
		d.mu.Lock()
		d.dated = append(d.dated, r.Time)
		d.mu.Unlock()
	}
	return r, err
}

func (d *datedMeter) Latency() time.Duration { return d.lag }

func (d *datedMeter) Window() time.Duration { return d.window }

// With a meter whose readings describe the past, the sampler reads on after
// the confirmed power-off until a reading describes that instant, so the
// off phase ends on a measurement, not on the on-power held from the last
// reading before it; and on until a reading whose window (the span it
// averages) lies wholly after the power-off, so the reading that straddles
// it is not followed only by the standby meter's next one, seconds later.
func TestDatedMeterIsReadUntilItCoversThePowerOff(t *testing.T) {
	for _, tc := range []struct{ lag, window time.Duration }{
		{0, 0}, {1800 * time.Millisecond, 0}, {1800 * time.Millisecond, time.Second},
	} {
		lag := tc.lag
		t.Run(lag.String()+"/"+tc.window.String(), func(t *testing.T) {
			dm := &datedMeter{lag: lag, window: tc.window}
			h := newHarness(t, 1, func(h *harness) {
				h.wrap = func(name string, m machine.Machine) machine.Machine { dm.Machine = m; return dm }
			})
			id := h.submit(alice, loadSpec(10*time.Second, 1))[0]
			h.waitState(id, job.Completed)
			off := h.offEnd(id)
			dm.mu.Lock()
			defer dm.mu.Unlock()
			last := dm.dated[len(dm.dated)-1]
			if last.Before(off.Add(tc.window / 2)) {
				t.Errorf("lag %v, window %v: the last reading is dated %v, before the power-off at %v + half the window", lag, tc.window, last, off)
			}
		})
	}
}

// offEnd is where job id's bill ends: the end of its off phase, when the
// machine was confirmed off.
func (h *harness) offEnd(id uint64) time.Time {
	h.t.Helper()
	for _, e := range h.ledger(id) {
		if e.Phase == "off" {
			return e.End
		}
	}
	h.t.Fatalf("no off entry in %+v", h.ledger(id))
	return time.Time{}
}

// After a job's recording lets go of a node, the meter loop reads it at
// the sampling interval for settleReadings readings before it falls back
// to the standby interval: a machine may draw for a moment after its BMC
// says off, and a trapezoid from the last running reading to a standby one
// 5 s later would spread half that step over the 5 s.
func TestMeterReadsFastAfterAJob(t *testing.T) {
	dm := &datedMeter{}
	h := newHarness(t, 1, func(h *harness) {
		h.wrap = func(name string, m machine.Machine) machine.Machine { dm.Machine = m; return dm }
	})
	id := h.submit(alice, loadSpec(10*time.Second, 1))[0]
	h.waitState(id, job.Completed)
	end := h.job(id).EndTime
	h.until("a minute after the job", func() bool { return h.clk.Now().Sub(end) > time.Minute })
	dm.mu.Lock()
	defer dm.mu.Unlock()
	var after []time.Time
	for _, d := range dm.dated {
		if d.After(end) {
			after = append(after, d)
		}
	}
	if len(after) < settleReadings+3 {
		t.Fatalf("%d readings in the minute after the job: %v", len(after), after)
	}
	if first := after[0].Sub(end); first > time.Second {
		t.Errorf("the first reading after the job came %v after its end; want within the sampling interval", first)
	}
	// The reading at the recording's end itself is the first of them.
	for i := 1; i < settleReadings-1; i++ {
		if gap := after[i].Sub(after[i-1]); gap > time.Second+250*time.Millisecond {
			t.Errorf("reading %d after the job came %v after the one before; want the 1 s sampling interval", i, gap)
		}
	}
	if gap := after[len(after)-1].Sub(after[len(after)-2]); gap < 4*time.Second {
		t.Errorf("a minute after the job, readings are %v apart; want the 5 s standby interval", gap)
	}
}

// viewBMC is a watts-only BMC over the simulator: each reading passes
// through view, one at a time, and the BMC says its readings are dated up
// to latency late and are means over window (power.DatedMeter; zero
// latency: dated when read).
type viewBMC struct {
	machine.Machine
	latency, window time.Duration
	mu              sync.Mutex
	view            func(power.Reading) power.Reading
}

func (d *viewBMC) Unwrap() machine.Machine { return d.Machine }

func (d *viewBMC) PowerReading(ctx context.Context) (power.Reading, error) {
	r, err := d.Machine.(power.Meter).PowerReading(ctx)
	if err != nil {
		return r, err
	}
	r.Joules, r.Counter = 0, false
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.view(r), nil
}

func (d *viewBMC) Latency() time.Duration { return d.latency }

func (d *viewBMC) Window() time.Duration { return d.window }

// jitteryBMC dates each reading 0.5-1.8 s before the read, each by its own
// amount, as power/bmc dates a late mean when it has no publication phase
// to go by.
func jitteryBMC(seed int64) *viewBMC {
	rnd := rand.New(rand.NewSource(seed))
	return &viewBMC{latency: 1800 * time.Millisecond, window: time.Second, view: func(r power.Reading) power.Reading {
		r.Time = r.Time.Add(-500*time.Millisecond - time.Duration(rnd.Int63n(int64(1300*time.Millisecond))))
		return r
	}}
}

// TestKill9KeepsTheStandbyBeforeABoot: a BMC that dates its readings in the
// past, and bmcctld killed 6 s into a job. The standby metered before the
// boot's power-on must survive the crash with the total that holds it: a
// job's first flush stored the meter's points, whose total counts that
// standby, but not the stretch that books it, so the restarted bmcctld
// counted the energy and booked it nowhere (-1.6 … -2.3 % of the balance).
func TestKill9KeepsTheStandbyBeforeABoot(t *testing.T) {
	for seed := range int64(5) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			dm := jitteryBMC(seed)
			h := newHarness(t, 1, func(h *harness) {
				h.wrap = func(name string, m machine.Machine) machine.Machine { dm.Machine = m; return dm }
			})
			id := h.submit(alice, loadSpec(20*time.Second, 1))[0]
			h.waitState(id, job.Running)
			h.until("6 s of running", func() bool { return h.clk.Now().Sub(h.job(id).RunTime) > 6*time.Second })
			h.kill9(time.Second)
			h.waitState(id, job.Completed)
			h.until("a minute of standby", func() bool { return h.clk.Now().Sub(h.job(id).EndTime) > time.Minute })
			b := h.checkBalance(0)
			if b.Nodes[0].StandbyJoules <= 0 {
				t.Errorf("no standby booked: %+v", b.Nodes[0])
			}
		})
	}
}

// holdingBMC dates its readings a second before the read and goes on
// showing the machine's last running draw for 2.2 s after the machine went
// off, as the lab's ipmi_sim once did.
func holdingBMC() *viewBMC {
	var last float64
	var offSeen time.Time
	return &viewBMC{latency: 1800 * time.Millisecond, window: time.Second, view: func(r power.Reading) power.Reading {
		switch {
		case r.Watts > 0:
			last, offSeen = r.Watts, time.Time{}
		case last > 0:
			if offSeen.IsZero() {
				offSeen = r.Time
			}
			if r.Time.Sub(offSeen) < 2200*time.Millisecond {
				r.Watts = last
			}
		}
		r.Time = r.Time.Add(-time.Second)
		return r
	}}
}

// TestAValueHeldAfterThePowerOffIsNotNews: a BMC that repeats the running
// draw for a while after the power-off. The repeats are not new readings:
// dated as such, they put the running draw after the off, where the meter
// books it as standby; the recording's and the meter's readings after the
// off must show the machine off.
func TestAValueHeldAfterThePowerOffIsNotNews(t *testing.T) {
	dm := holdingBMC()
	h := newHarness(t, 1, func(h *harness) {
		h.wrap = func(name string, m machine.Machine) machine.Machine { dm.Machine = m; return dm }
	})
	id := h.submit(alice, loadSpec(10*time.Second, 1))[0]
	h.waitState(id, job.Completed)
	h.until("a minute of standby", func() bool { return h.clk.Now().Sub(h.job(id).EndTime) > time.Minute })
	off := h.offEnd(id)
	js, err := h.c.JobSamples(id)
	if err != nil || len(js.Boots) != 1 {
		t.Fatalf("samples: %v %+v", err, js)
	}
	for _, s := range js.Boots[0].Samples {
		if s.Time.After(off) && s.Watts > 0 {
			t.Errorf("a reading of %.0f W dated %v after the power-off", s.Watts, s.Time.Sub(off))
		}
	}
	h.checkBalance(0)
	// What the meter books after the bill: the trapezoid from the last
	// running reading, dated before the off, to the first one that shows
	// the machine off (31 J); a held value dated past the off adds ~60 J.
	b, err := h.c.Balance(off, h.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Nodes[0].StandbyJoules; got > 40 {
		h.dumpEnergy("sim001")
		t.Errorf("standby %.1f J after a job on a machine that draws nothing while off", got)
	}
}
