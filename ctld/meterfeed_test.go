package ctld

import (
	"math"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/store"
)

// TestMeterLumpsTheStepAfterABill: the reading after a boot's bill ended
// holds the machine's last draw falling to standby, and gets a stretch of
// its own, or a balance whose period starts in the standby after it counts
// part of that step (it spreads a stretch over its span). That holds also
// when the bill ended right on the boot's last reading, as it does when a
// BMC is read at the power-off itself.
func TestMeterLumpsTheStepAfterABill(t *testing.T) {
	for _, end := range []time.Duration{0, 100 * time.Millisecond} {
		t.Run(end.String(), func(t *testing.T) {
			c := &Controller{en: newEnergyState()}
			at := func(d time.Duration, w float64) accounting.Sample {
				return accounting.Sample{Time: t0.Add(d), Watts: w}
			}
			c.meterFeed("n", "bmc-sdr", at(0, 250), true, "", true)
			c.meterFeed("n", "bmc-sdr", at(time.Second, 250), true, "", true)
			c.jobEnded("n", t0.Add(time.Second+end), accounting.ReasonStandby, true)
			c.meterFeed("n", "bmc-sdr", at(1250*time.Millisecond, 0), false, accounting.ReasonStandby, true)
			c.meterFeed("n", "bmc-sdr", at(20*time.Second, 0), false, accounting.ReasonStandby, true)
			c.meterFeed("n", "bmc-sdr", at(40*time.Second, 0), false, accounting.ReasonStandby, true)
			m := c.en.meters["n"]
			var us []store.Unbilled
			for _, u := range m.dirty {
				us = append(us, *u)
			}
			if len(us) != 2 || !us[0].End.Equal(t0.Add(1250*time.Millisecond)) || us[0].Joules <= 0 || us[1].Joules != 0 {
				for _, u := range us {
					t.Logf("%s-%s %s %.2f J", u.Start.Sub(t0), u.End.Sub(t0), u.Reason, u.Joules)
				}
				t.Errorf("want the step to standby in a stretch of its own ending at 1.25 s, then the standby")
			}
		})
	}
}

// TestMeterCutsTheTailAsTheBillDoes: a bill that ends between two of the
// job's readings, halfway down a fall of the draw, counts the trapezoid
// up to its end; the meter must give it the same and book only the rest
// after it, or billed + unbilled misses the metered total.
func TestMeterCutsTheTailAsTheBillDoes(t *testing.T) {
	c := &Controller{en: newEnergyState()}
	var samples []accounting.Sample
	for _, r := range []struct {
		at time.Duration
		w  float64
	}{{0, 105}, {time.Second, 105}, {3 * time.Second, 12}} {
		s := accounting.Sample{Time: t0.Add(r.at), Watts: r.w}
		samples = append(samples, s)
		c.meterFeed("n", "bmc-sdr", s, true, "", true)
	}
	end := t0.Add(2 * time.Second)
	c.jobEnded("n", end, accounting.ReasonStandby, true)
	bill, err := accounting.Integrate(samples, t0, end, accounting.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := c.en.meters["n"]
	var after float64
	for _, u := range m.dirty {
		after += u.Joules
	}
	if got := m.total - after; math.Abs(got-bill.Joules) > 1e-9 {
		t.Errorf("the meter left %.2f J to the bill up to 2 s; the bill counts %.2f J", got, bill.Joules)
	}
}
