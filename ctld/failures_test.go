package ctld

import (
	"testing"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/machine/simnode"
	"github.com/bmc-sched/bmc/power/sim"
)

// frozenJob runs a job until its machine freezes and the controller ends it
// NODE_FAIL, and returns its bill.
func frozenJob(t *testing.T, policy accounting.FailurePolicy) (*harness, api.AcctJob) {
	h := newHarness(t, 1, func(h *harness) {
		h.cfg.Reconcile.AgentTimeout = 20 * time.Second
		h.cfg.Energy.Failures = policy
	})
	id := h.submit(alice, simSpec(time.Hour, 0))[0]
	j := h.waitState(id, job.Running)
	h.until("the command to start", func() bool { running, _, _, _ := h.sim("sim001").Status(simnode.RunKey(j)); return running })
	h.sim("sim001").SetFaults(sim.Faults{Frozen: true})
	h.waitState(id, job.NodeFail)
	return h, h.acctJob(id)
}

// TestNodeFailIsCreditedToTheCluster: the energy of a job whose node froze
// is on the user's bill as credited, counts to the overhead account, and
// costs the user nothing.
func TestNodeFailIsCreditedToTheCluster(t *testing.T) {
	h, a := frozenJob(t, "")
	if a.EnergyJoules <= 0 || a.CreditedJoules != a.EnergyJoules || len(a.CreditReasons) != 1 || a.CreditReasons[0] != accounting.ReasonNodeFail {
		t.Fatalf("NODE_FAIL bill: %.1f J, credited %.1f J %v", a.EnergyJoules, a.CreditedJoules, a.CreditReasons)
	}
	for _, e := range h.ledger(a.ID) {
		if !e.Credited || e.CreditReason != accounting.ReasonNodeFail {
			t.Errorf("%s entry not credited: %+v", e.Phase, e)
		}
	}
	used := h.c.EnergyUsed()
	if used[""] != 0 || !near(used[DefaultOverheadAccount], a.EnergyJoules, 1e-9) {
		t.Errorf("energy used by account %v; want all %.1f J on %q", used, a.EnergyJoules, DefaultOverheadAccount)
	}
	// After a restart the ledger still says who pays.
	h.restart()
	if used := h.c.EnergyUsed(); !near(used[DefaultOverheadAccount], a.EnergyJoules, 1e-9) {
		t.Errorf("after a restart: energy used by account %v", used)
	}
}

// TestUserPolicyBillsNodeFail: with --failure-billing=user the same NODE_FAIL
// stays on the user's account.
func TestUserPolicyBillsNodeFail(t *testing.T) {
	h, a := frozenJob(t, accounting.FailuresUser)
	if a.CreditedJoules != 0 || len(a.CreditReasons) != 0 || a.EnergyJoules <= 0 {
		t.Fatalf("NODE_FAIL under the user policy: credited %.1f J of %.1f J %v", a.CreditedJoules, a.EnergyJoules, a.CreditReasons)
	}
	if used := h.c.EnergyUsed(); used[DefaultOverheadAccount] != 0 {
		t.Errorf("energy used by account %v", used)
	}
}

// TestOwnFailuresStayBilled: a job that exits non-zero or runs out of time
// pays for its energy.
func TestOwnFailuresStayBilled(t *testing.T) {
	h := newHarness(t, 1)
	failed := h.submit(alice, simSpec(5*time.Second, 3))[0]
	h.waitState(failed, job.Failed)
	spec := simSpec(time.Hour, 0)
	spec.TimeLimit = job.Duration(10 * time.Second)
	timeout := h.submit(alice, spec)[0]
	h.waitState(timeout, job.Timeout)
	for _, id := range []uint64{failed, timeout} {
		if a := h.acctJob(id); a.CreditedJoules != 0 || a.EnergyJoules <= 0 {
			t.Errorf("job %d (%s): credited %.1f J of %.1f J", id, a.State, a.CreditedJoules, a.EnergyJoules)
		}
	}
	if used := h.c.EnergyUsed(); used[DefaultOverheadAccount] != 0 {
		t.Errorf("energy used by account %v", used)
	}
}

// TestAbortedBootIsCredited: a boot aborted for a security event is on the
// job's bill as credited; the boot that ran the job is billed.
func TestAbortedBootIsCredited(t *testing.T) {
	h := newHarness(t, 1, func(h *harness) {
		h.wrap = func(name string, inner machine.Machine) machine.Machine {
			return &abortsFirst{Machine: inner, times: 2}
		}
	})
	id := h.submit(alice, simSpec(5*time.Second, 0))[0]
	h.waitState(id, job.Completed)
	var credited, billed int
	for _, e := range h.ledger(id) {
		switch {
		case e.Credited && e.CreditReason == accounting.ReasonAbortedBoot:
			credited++
		case !e.Credited:
			billed++
		default:
			t.Errorf("entry %+v", e)
		}
	}
	if credited != 2 || billed != 3 {
		t.Errorf("%d credited entries (want the 2 aborted boots) and %d billed (want the last boot's 3 phases)", credited, billed)
	}
}

// TestForgedRAPLIsBilledTheFloor: a job on a node without a BMC meter posts a
// RAPL counter that never moves. Its bill is flagged implausible and
// self-reported, and is at least the kind's idle floor for its time.
func TestForgedRAPLIsBilledTheFloor(t *testing.T) {
	a := newMeterlessRAPL(t)
	frozen := uint64(123_456)
	a.fixed = &frozen
	h := a.h
	a.id = h.submit(alice, loadSpec(20*time.Second, 1))[0]
	a.runUntilDone()
	floor := h.c.nodes["sim001"].idleFloor()
	if floor <= 0 {
		t.Fatalf("sim node has no idle floor")
	}
	for _, e := range h.ledger(a.id) {
		if !e.SelfReported || e.Meter != accounting.MeterRAPL || e.Joules < floor*e.Duration-1e-6 {
			t.Errorf("%s: %.1f J over %.1f s (floor %.0f W), meter %q self_reported %v", e.Phase, e.Joules, e.Duration, floor, e.Meter, e.SelfReported)
		}
		if e.Phase == "run" && (!e.Implausible || !e.EnergyEstimated) {
			t.Errorf("run of a frozen counter: implausible %v estimated %v %v", e.Implausible, e.EnergyEstimated, e.Reasons)
		}
	}
	j := h.acctJob(a.id)
	if !j.Implausible || !j.SelfReported || j.Meter != accounting.MeterRAPL || j.EnergyJoules < floor*j.Elapsed*0.95 {
		t.Errorf("job: %.1f J over %.1f s, implausible %v self_reported %v meter %q", j.EnergyJoules, j.Elapsed, j.Implausible, j.SelfReported, j.Meter)
	}
}
