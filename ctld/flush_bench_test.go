package ctld

import (
	"math"
	"math/rand"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/power"
)

// labSensor reads watts as the lab's BMC sensor shows them: in 4 W steps,
// with 2 % (one σ) of multiplicative noise, and no energy counter.
func labSensor(seed int64) *viewBMC {
	rnd := rand.New(rand.NewSource(seed))
	return &viewBMC{view: func(r power.Reading) power.Reading {
		r.Watts = 4 * math.Round(r.Watts*(1+0.02*rnd.NormFloat64())/4)
		return r
	}}
}

// BenchmarkSampleFlushWrites measures how often a running job's samples
// are written to the store (flushDueLocked: as soon as a crash would cost
// the bill more than 2 J or 0.5 % of the unwritten stretch, at the latest
// every 15 s), per minute of a steady run, for each kind of meter. It
// reports writes/min; ns/op is the fake-clock run and means nothing.
func BenchmarkSampleFlushWrites(b *testing.B) {
	for _, tc := range []struct {
		name string
		wrap func(machine.Machine) machine.Machine
	}{
		{"counter", nil},
		{"watts-exact", func(m machine.Machine) machine.Machine { return wattsOnly{m} }},
		{"watts-4W-2pct", func(m machine.Machine) machine.Machine {
			s := labSensor(1)
			s.Machine = m
			return s
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var writes, minutes float64
			for range b.N {
				h := newHarness(b, 1, func(h *harness) {
					if tc.wrap != nil {
						h.wrap = func(_ string, m machine.Machine) machine.Machine { return tc.wrap(m) }
					}
				})
				id := h.submit(alice, loadSpec(10*time.Minute, 1))[0]
				h.waitState(id, job.Running)
				// From a minute in: the boot's climb is written at once.
				from := h.job(id).RunTime.Add(time.Minute)
				h.until("a minute of running", func() bool { return !h.clk.Now().Before(from) })
				before := h.rawChunks()
				h.until("eight more minutes", func() bool { return h.clk.Now().Sub(from) >= 8*time.Minute })
				writes += float64(h.rawChunks() - before)
				minutes += 8
				h.stop()
			}
			b.ReportMetric(writes/minutes, "writes/min")
		})
	}
}
