package bmc

import (
	"math"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/node"
)

// stubBMC publishes, every period from phase on, the mean of power over
// the window that closed lag earlier: the lab sensor without noise or steps.
type stubBMC struct {
	window, period, lag, phase time.Duration
	power                      func(t time.Time) float64
}

// shown is the reading visible at t and the middle of the window it is the
// mean of.
func (b stubBMC) shown(t time.Time) (watts float64, centre time.Time) {
	pub := t0.Add(b.phase).Add(floorDiv(t.Sub(t0.Add(b.phase)), b.period) * b.period)
	end := pub.Add(-b.lag)
	start := end.Add(-b.window)
	const steps = 200
	var sum float64
	for i := range steps {
		sum += b.power(start.Add(time.Duration(float64(b.window) * (float64(i) + 0.5) / steps)))
	}
	return sum / steps, start.Add(b.window / 2)
}

// schedule is the controller's: reads four times a second for the first
// 3 s, then once a second; each read takes 40 ms.
func schedule(from time.Time, n int) []time.Time {
	var out []time.Time
	t := from
	for len(out) < n {
		out = append(out, t)
		if t.Sub(from) < 3*time.Second {
			t = t.Add(250 * time.Millisecond)
		} else {
			t = t.Add(time.Second)
		}
	}
	return out
}

const readTime = 40 * time.Millisecond

func TestReadingClockDates(t *testing.T) {
	sensor := node.BMC{PowerWindow: time.Second, PowerPeriod: time.Second, PowerLag: 250 * time.Millisecond}
	ramp := func(t time.Time) float64 { return float64(t.Sub(t0)) / float64(time.Millisecond) } // a new value every instant
	for _, tc := range []struct {
		name  string
		cfg   node.BMC
		phase time.Duration
		reads []time.Time
		// want is how far from the window's middle each read may be dated
		// (-1: dated at the read's end, as without a setting).
		learnt, unknown time.Duration
	}{
		{"no setting: dated when read", node.BMC{}, 300 * time.Millisecond, schedule(t0, 20), -1, -1},
		{"fast reads learn the phase", sensor, 300 * time.Millisecond, schedule(t0, 30), 150 * time.Millisecond, 510 * time.Millisecond},
		{"another phase", sensor, 870 * time.Millisecond, schedule(t0, 30), 150 * time.Millisecond, 510 * time.Millisecond},
		{"slow reads only: half a period", sensor, 500 * time.Millisecond, schedule(t0.Add(-time.Hour), 200)[12:], 0, 510 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := stubBMC{window: tc.cfg.PowerWindow, period: tc.cfg.PowerPeriod, lag: tc.cfg.PowerLag, phase: tc.phase, power: ramp}
			if b.period == 0 {
				b.period, b.window = time.Second, time.Second
			}
			c := newReadingClock(tc.cfg)
			for i, at := range tc.reads {
				w, centre := b.shown(at.Add(readTime / 2))
				got := c.date(read{start: at, end: at.Add(readTime), watts: w})
				if tc.learnt < 0 {
					if !got.Equal(at.Add(readTime)) {
						t.Fatalf("read %d at %s dated %s, want its end", i, at.Sub(t0), got.Sub(t0))
					}
					continue
				}
				tol := tc.unknown
				if _, ok := c.published(at); ok {
					tol = tc.learnt
				}
				if d := got.Sub(centre); d < -tol || d > tol {
					t.Errorf("read %d at %s: dated %s, its window's middle is %s (off by %s, tolerance %s)",
						i, at.Sub(t0), got.Sub(t0), centre.Sub(t0), d, tol)
				}
			}
			if tc.learnt > 0 {
				if _, ok := c.published(tc.reads[len(tc.reads)-1]); !ok {
					t.Error("fast reads taught nothing")
				}
			}
		})
	}
}

func TestReadingClockForgetsAndRelearns(t *testing.T) {
	cfg := node.BMC{PowerWindow: time.Second, PowerPeriod: time.Second, PowerLag: 250 * time.Millisecond}
	ramp := func(t time.Time) float64 { return float64(t.Sub(t0)) / float64(time.Millisecond) }
	c := newReadingClock(cfg)
	b := stubBMC{window: time.Second, period: time.Second, lag: 250 * time.Millisecond, phase: 200 * time.Millisecond, power: ramp}
	feed := func(reads []time.Time) {
		for _, at := range reads {
			w, _ := b.shown(at.Add(readTime / 2))
			c.date(read{start: at, end: at.Add(readTime), watts: w})
		}
	}
	feed(schedule(t0, 10))
	pub, ok := c.published(t0.Add(5 * time.Second))
	if !ok || pub.Sub(t0.Add(5200*time.Millisecond)).Abs() > 150*time.Millisecond && pub.Sub(t0.Add(4200*time.Millisecond)).Abs() > 150*time.Millisecond {
		t.Fatalf("published(5s) = %s %v, want near 4.2s", pub.Sub(t0), ok)
	}
	// A steady reading teaches nothing, and a phase not confirmed for
	// trustPeriods is not used.
	steady := stubBMC{window: time.Second, period: time.Second, phase: 200 * time.Millisecond, power: func(time.Time) float64 { return 40 }}
	at := t0.Add(20 * time.Second)
	for range trustPeriods + 5 {
		w, _ := steady.shown(at)
		c.date(read{start: at, end: at.Add(readTime), watts: w})
		at = at.Add(time.Second)
	}
	if _, ok := c.published(at); ok {
		t.Fatal("a phase unconfirmed for more than trustPeriods is still used")
	}
	// The BMC restarted with another phase: fast reads teach the new one.
	b.phase = 700 * time.Millisecond
	start := at.Add(time.Second)
	feed(schedule(start, 12))
	pub, ok = c.published(start.Add(2900 * time.Millisecond))
	want := start.Truncate(time.Second).Add(2700 * time.Millisecond)
	if !ok || pub.Sub(want).Abs() > 150*time.Millisecond {
		t.Fatalf("after the phase moved: published = %s %v, want near %s", pub.Sub(t0), ok, want.Sub(t0))
	}
}

// TestDatedReadingsBillThePowerOnStep: a machine switched on reads through a
// lagging BMC as standby for a second or two; undated, the bill misses that
// much boot power, dated it does not.
func TestDatedReadingsBillThePowerOnStep(t *testing.T) {
	cfg := node.BMC{PowerWindow: time.Second, PowerPeriod: time.Second, PowerLag: 250 * time.Millisecond}
	on, off := t0.Add(150*time.Millisecond), t0.Add(60*time.Second)
	machine := func(t time.Time) float64 {
		if t.Before(on) || !t.Before(off) {
			return 10
		}
		return 40 + 60*(1-math.Exp(-t.Sub(on).Seconds()/0.5)) + 20*math.Exp(-t.Sub(on).Seconds()/3)
	}
	// The truth, integrated finely over the bill's window [t0, off].
	var truth float64
	for x := t0; x.Before(off); x = x.Add(time.Millisecond) {
		truth += machine(x.Add(500*time.Microsecond)) * 1e-3
	}
	for _, tc := range []struct {
		name     string
		cfg      node.BMC
		min, max float64 // error bounds, %
	}{
		{"undated", node.BMC{}, -2.5, -1.2},
		{"dated", cfg, -0.3, 0.3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, phase := range []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond} {
				b := stubBMC{window: time.Second, period: time.Second, lag: 250 * time.Millisecond, phase: phase, power: machine}
				c := newReadingClock(tc.cfg)
				var samples []accounting.Sample
				for _, at := range schedule(t0, 70) {
					if at.After(off) {
						break
					}
					w, _ := b.shown(at.Add(readTime / 2))
					d := c.date(read{start: at, end: at.Add(readTime), watts: w})
					if n := len(samples); n == 0 || d.After(samples[n-1].Time) {
						samples = append(samples, accounting.Sample{Time: d, Watts: w})
					}
				}
				r, err := accounting.Integrate(samples, t0, off, accounting.Options{Interval: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				e := 100 * (r.Joules - truth) / truth
				t.Logf("phase %s: %+.3f %%", phase, e)
				if e < tc.min || e > tc.max {
					t.Errorf("phase %s: billed %.1f J, truth %.1f J: %+.2f %%, want %+.1f … %+.1f %%", phase, r.Joules, truth, e, tc.min, tc.max)
				}
			}
		})
	}
}
