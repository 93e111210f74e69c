package ctld

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
)

// TestSchema1StateFileBillsAsBefore starts the controller on the state file
// the last bmcctld of store schema 1 left (store/testdata/README.md): the
// upgraded ledger sums to what that bmcctld's `bmcq acct` printed, and the
// job it left running is billed from the raw samples it had stored.
func TestSchema1StateFileBillsAsBefore(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("..", "store", "testdata", "state-v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, 2, func(h *harness) {
		if err := os.WriteFile(filepath.Join(h.dir, "state.db"), fixture, 0o600); err != nil {
			t.Fatal(err)
		}
		// A minute after that bmcctld stopped.
		h.clk.Set(time.Date(2026, 12, 1, 21, 0, 41, 0, time.UTC))
	})
	// `bmcq acct` of the schema-1 bmcctld, before it stopped (EnergyJ, 0.1 J).
	before := map[uint64]float64{1: 1143.8, 2: 166.0, 3: 2424.8, 4: 120.5, 5: 683.5}
	for id, want := range before {
		a := h.acctJob(id)
		if math.Abs(a.EnergyJoules-want) > 0.05 || a.EnergyEstimated || a.Currency != "EUR" || a.Cost <= 0 {
			t.Errorf("job %d: %.2f J %g %s estimated %v, schema 1 billed %.1f J", id, a.EnergyJoules, a.Cost, a.Currency, a.EnergyEstimated, want)
		}
	}
	if a := h.acctJob(5); a.Boots != 2 || a.State != job.Completed {
		t.Errorf("requeued job: %d boots, %s", a.Boots, a.State)
	}
	if es := h.ledger(4); len(es) != 2 || es[0].Phase != "boot" || es[1].Phase != "off" {
		t.Errorf("job cancelled while booting: %+v", es)
	}

	// Job 6 was running; its simulated machine did not survive (the
	// fixture holds no machine state), so recovery ends it NODE_FAIL and
	// bills the boot from the stored samples; the fresh machine's counter
	// reads 0, a reset, so the stretch the controller was down is estimated.
	h.waitState(6, job.NodeFail)
	es := h.ledger(6)
	if len(es) < 2 || es[0].Phase != "boot" || es[1].Phase != "run" {
		t.Fatalf("job 6 ledger: %+v", es)
	}
	if boot := es[0]; boot.EnergyEstimated || !near(boot.Joules, 271.1, 0.01) || boot.Samples < 10 {
		t.Errorf("job 6 boot phase from the stored samples: %+v", boot)
	}
	run := es[1]
	// About 20 s at 170 W (load 0.5) were stored before the stop.
	if run.Joules < 3400 || !run.EnergyEstimated || !strings.Contains(strings.Join(run.Reasons, " "), "reset") {
		t.Errorf("job 6 run phase: %.1f J, estimated %v %q; want the ~3,440 J stored before the stop, and the reset said", run.Joules, run.EnergyEstimated, run.Reasons)
	}
	if n := h.rawChunks(); n != 1 {
		t.Errorf("%d raw chunks once job 6 is billed; want its boot's readings kept in one compacted chunk", n)
	}
	if st := h.job(7).State; st != job.Held {
		t.Errorf("held job is %s", st)
	}
}
