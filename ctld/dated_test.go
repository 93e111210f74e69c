package ctld

import (
	"context"
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
	lag   time.Duration
	mu    sync.Mutex
	dated []time.Time
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

// With a meter whose readings describe the past, the sampler reads on after
// the confirmed power-off until a reading describes that instant, so the
// off phase ends on a measurement, not on the on-power held from the last
// reading before it.
func TestDatedMeterIsReadUntilItCoversThePowerOff(t *testing.T) {
	for _, lag := range []time.Duration{0, 1800 * time.Millisecond} {
		t.Run(lag.String(), func(t *testing.T) {
			dm := &datedMeter{lag: lag}
			h := newHarness(t, 1, func(h *harness) {
				h.wrap = func(name string, m machine.Machine) machine.Machine { dm.Machine = m; return dm }
			})
			id := h.submit(alice, loadSpec(10*time.Second, 1))[0]
			h.waitState(id, job.Completed)
			var off time.Time
			for _, e := range h.ledger(id) {
				if e.Phase == "off" {
					off = e.End
				}
			}
			if off.IsZero() {
				t.Fatalf("no off entry in %+v", h.ledger(id))
			}
			dm.mu.Lock()
			defer dm.mu.Unlock()
			last := dm.dated[len(dm.dated)-1]
			if last.Before(off) {
				t.Errorf("lag %v: the last reading is dated %v, before the power-off at %v", lag, last, off)
			}
		})
	}
}
