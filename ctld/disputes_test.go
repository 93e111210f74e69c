package ctld

import (
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
)

// TestRecomputeFromKeptSamples: a billed job's readings are kept, and its
// bill recomputed from them matches the ledger; past the retention they
// are dropped and the recompute says so.
func TestRecomputeFromKeptSamples(t *testing.T) {
	h := newHarness(t, 1, func(h *harness) { h.cfg.Energy.SampleRetention = 2 * time.Hour })
	id := h.submit(alice, loadSpec(30*time.Second, 0.7))[0]
	h.waitState(id, job.Running)
	h.until("ten seconds of running", func() bool { return h.clk.Now().Sub(h.job(id).RunTime) > 10*time.Second })
	h.restart() // a bill across a restart is recomputed the same
	h.waitState(id, job.Completed)
	s, err := h.c.JobSamples(id)
	if err != nil || len(s.Boots) != 1 || len(s.Boots[0].Samples) < 3 {
		t.Fatalf("kept samples: %+v, %v", s, err)
	}
	r, err := h.c.Recompute(id)
	if err != nil || len(r.Entries) != 3 {
		t.Fatalf("recompute: %+v, %v", r, err)
	}
	for _, e := range r.Entries {
		if e.Missing != "" || e.Phase != "off" && e.BilledJoules <= 0 || e.DiffJoules != 0 && !near(e.RecomputedJoules, e.BilledJoules, 1e-9) {
			t.Errorf("%s: billed %.6f J, recomputed %.6f J (%s)", e.Phase, e.BilledJoules, e.RecomputedJoules, e.Missing)
		}
	}
	h.clk.Advance(3 * time.Hour)
	h.until("the readings dropped past their retention", func() bool { return h.rawChunks() == 0 })
	if r, err := h.c.Recompute(id); err != nil || r.Entries[0].Missing == "" {
		t.Errorf("recompute past retention: %+v, %v", r, err)
	}
	if _, err := h.c.Recompute(999); err == nil {
		t.Error("recompute of an unknown job")
	}
}
