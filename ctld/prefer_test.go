package ctld

import (
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
)

// allocWhy returns the Why of a job's last allocation, from its event log.
func (h *harness) allocWhy(id uint64) string {
	why := ""
	for _, e := range h.events(id) {
		if e.State == job.Allocated {
			why = e.Detail
		}
	}
	return why
}

func (h *harness) reason(id uint64) job.Reason {
	h.c.mu.RLock()
	defer h.c.mu.RUnlock()
	return h.c.reasons[id]
}

func archSpec(arch string, runtime time.Duration) job.Spec {
	s := simSpec(runtime, 0)
	s.Arch = arch
	return s
}

// history runs the same image and command twice on each simulated kind:
// sim001 is sim-x86 (90-250 W), sim002 sim-arm (25-70 W).
func (h *harness) history() {
	h.t.Helper()
	var ids []uint64
	for range 2 {
		ids = append(ids, h.submit(alice, archSpec("x86_64", 10*time.Second))[0])
		ids = append(ids, h.submit(alice, archSpec("aarch64", 10*time.Second))[0])
	}
	for _, id := range ids {
		h.waitState(id, job.Completed)
	}
}

// occupyArm keeps sim002 busy for d with another command.
func (h *harness) occupyArm(d time.Duration) uint64 {
	h.t.Helper()
	s := archSpec("aarch64", d)
	s.Command.Argv = []string{"sleep forever"}
	id := h.submit(alice, s)[0]
	h.waitState(id, job.Running)
	return id
}

func TestArchAnyGoesToTheKindThatUsedFewestJoules(t *testing.T) {
	h := newHarness(t, 2)

	// No history: the normal order decides and Why says best fit.
	first := h.submit(alice, archSpec("any", 5*time.Second))[0]
	h.waitState(first, job.Completed)
	if why := h.allocWhy(first); !strings.HasPrefix(why, "best fit") {
		t.Errorf("without history: why %q", why)
	}

	h.history()
	busy := h.occupyArm(3 * time.Minute)
	spec := archSpec("any", 10*time.Second)
	spec.NoReuse = true // else it takes sim002 warm from busy's end, and Why says reuse
	id := h.submit(alice, spec)[0]
	since := h.clk.Now()
	// sim001 (x86) is free all along, but the job waits for the arm node.
	h.until("two minutes of waiting", func() bool { return h.clk.Now().Sub(since) >= 2*time.Minute })
	if j := h.job(id); j.State != job.Pending || h.reason(id) != job.ReasonResources {
		t.Fatalf("arch=any job with arm free later: %s on %q, reason %q", j.State, j.Node, h.reason(id))
	}
	if n := h.node("sim001"); n.Job != 0 {
		t.Errorf("sim001 busy with job %d", n.Job)
	}
	h.waitState(busy, job.Completed)
	j := h.waitState(id, job.Completed)
	if j.Node != "sim002" {
		t.Errorf("arch=any job ran on %s, want sim002 (sim-arm)", j.Node)
	}
	why := h.allocWhy(id)
	if !strings.HasPrefix(why, "energy: sim-arm used ") || !strings.Contains(why, "(3 runs) vs ") || !strings.Contains(why, " J on sim-x86") {
		t.Errorf("why %q", why)
	}
	t.Logf("why: %s", why)
}

func TestArchAnyTakesAnotherKindAfterPreferWaitMax(t *testing.T) {
	h := newHarness(t, 2, func(h *harness) { h.cfg.Scheduler.PreferWaitMax = time.Minute })
	h.history()
	h.occupyArm(10 * time.Minute)
	id := h.submit(alice, archSpec("any", 10*time.Second))[0]
	since := h.clk.Now()
	j := h.waitState(id, job.Running)
	if j.Node != "sim001" || j.StartTime.Sub(since) < time.Minute {
		t.Errorf("arch=any job started on %s after %s, want sim001 after the 1m limit", j.Node, j.StartTime.Sub(since))
	}
	if why := h.allocWhy(id); !strings.HasPrefix(why, "preferred kind sim-arm not free after 1m; best fit") {
		t.Errorf("why %q", why)
	}
}

// A ledger that cannot be read fails the scheduling pass (retried at the
// next one) instead of placing arch=any jobs without their preference.
func TestArchAnyWaitsWhileTheLedgerCannotBeRead(t *testing.T) {
	h := newHarness(t, 2)
	h.history()
	h.faults.failView.Store(true)
	id := h.submit(alice, archSpec("any", 5*time.Second))[0]
	since := h.clk.Now()
	h.until("a minute without a readable ledger", func() bool { return h.clk.Now().Sub(since) >= time.Minute })
	if j := h.job(id); j.State != job.Pending {
		t.Fatalf("arch=any job placed without its ledger: %s on %s", j.State, j.Node)
	}
	h.faults.failView.Store(false)
	if j := h.waitState(id, job.Completed); j.Node != "sim002" {
		t.Errorf("arch=any job ran on %s, want sim002 (sim-arm, fewer joules)", j.Node)
	}
}
