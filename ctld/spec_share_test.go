package ctld

import (
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
)

// TestArrayTasksShareOneSpec: the tasks of an array hold one spec, at
// submit and again after a restart reads them back from the state file
// (10,000 copies were 40 % of the daemon's heap; bench/README.md).
func TestArrayTasksShareOneSpec(t *testing.T) {
	h := newHarness(t, 1)
	spec := simSpec(time.Hour, 0)
	spec.Hold = true
	a, err := job.ParseArray("1-3")
	if err != nil {
		t.Fatal(err)
	}
	spec.Array = &a
	ids := h.submit(alice, spec)
	other := h.submit(alice, simSpec(time.Hour, 0))[0]
	check := func(when string) {
		t.Helper()
		first := h.job(ids[0]).Spec
		for _, id := range ids[1:] {
			if h.job(id).Spec != first {
				t.Errorf("%s: task %d has a spec of its own", when, id)
			}
		}
		if h.job(other).Spec == first {
			t.Errorf("%s: job %d shares the array's spec", when, other)
		}
	}
	check("after submit")
	h.restart()
	check("after a restart")
}
