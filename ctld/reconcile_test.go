package ctld

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/machine/simnode"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/power/sim"
)

// The reconciler's fault-injection tests: simulated machines with injected
// faults (power/sim.Faults), a store whose commits can fail (faultStore),
// and a fake clock. Each checks the three promises: no machine left on, no
// job stuck, every action recorded (a node or job event and a count).

// powerOf is a machine's true power state, past any injected BMC fault.
func (h *harness) powerOf(name string) power.State {
	if h.sim(name).On() {
		return power.On
	}
	return power.Off
}

func (h *harness) nodeInfo(name string) (state, reason string) {
	for _, n := range h.c.Nodes() {
		if n.Name == name {
			return n.State, n.Reason
		}
	}
	h.t.Fatalf("no node %s", name)
	return "", ""
}

func TestIdleMachineOnIsHeldThenSwitchedOff(t *testing.T) {
	h := newHarness(t, 1, func(h *harness) {
		h.cfg.Reconcile.PowerSync = 10 * time.Second
		h.cfg.Reconcile.IdleOffGrace = 30 * time.Second
	})
	// Someone switched the machine on behind the controller's back.
	if err := h.sim("sim001").PowerOn(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.until("the machine found on", func() bool { _, r := h.nodeInfo("sim001"); return strings.Contains(r, "on with no job") })
	foundAt := h.clk.Now()
	id := h.submit(alice, simSpec(time.Second, 0))[0]
	j := h.waitState(id, job.Completed)
	evs := h.nodeEvents("sim001")
	i := slices.IndexFunc(evs, func(e node.Event) bool { return e.Action == ActIdleOff })
	if i < 0 || h.action(ActIdleOff) != 1 {
		t.Fatalf("node events %v, %d idle_off counted", nodeActions(evs), h.action(ActIdleOff))
	}
	if d := evs[i].Time.Sub(foundAt); d < 30*time.Second-time.Second {
		t.Errorf("switched off %s after it was found on; the grace is 30s", d)
	}
	if j.Node != "sim001" || j.StartTime.Before(evs[i].Time) {
		t.Errorf("the job was given the machine at %s, before it was switched off at %s", j.StartTime, evs[i].Time)
	}
	if st := h.powerOf("sim001"); st != power.Off {
		t.Errorf("machine left %s", st)
	}
}

func TestRefusedPowerOffIsRetriedWithBackoff(t *testing.T) {
	h := newHarness(t, 1)
	id := h.submit(alice, simSpec(5*time.Second, 0))[0]
	h.waitState(id, job.Running)
	h.sim("sim001").SetFaults(sim.Faults{RefuseOff: 3}) // the job's own and two retries
	h.waitState(id, job.Completed)                      // the outcome is known: the job ends
	if st, r := h.nodeInfo("sim001"); st != "DOWN" || !strings.Contains(r, "power off failed") || !strings.Contains(r, "retry") {
		t.Errorf("node while its power-off fails: %s %q, want DOWN saying so and when it retries", st, r)
	}
	h.until("the node back in service", func() bool { return h.node("sim001").State == node.Idle })
	if st := h.powerOf("sim001"); st != power.Off {
		t.Errorf("machine left %s", st)
	}
	evs := h.nodeEvents("sim001")
	want := []string{"node_down", ActPowerOffRetry, ActPowerOffRetry, ActPowerOffRetry, ActNodeUp}
	if got := nodeActions(evs); !slices.Equal(got, want) {
		t.Fatalf("node events %v, want %v", got, want)
	}
	// Each retry waits twice as long as the one before.
	d1, d2 := evs[2].Time.Sub(evs[1].Time), evs[3].Time.Sub(evs[2].Time)
	if d1 < h.cfg.Reconcile.Interval || d2 < 2*d1-time.Second {
		t.Errorf("retries %s then %s apart; want backoff from %s, doubling", d1, d2, h.cfg.Reconcile.Interval)
	}
	if h.action(ActPowerOffRetry) != 3 || h.action(ActNodeUp) != 1 {
		t.Errorf("counted %d retries, %d node_up", h.action(ActPowerOffRetry), h.action(ActNodeUp))
	}
	// The node takes jobs again.
	h.waitState(h.submit(alice, simSpec(time.Second, 0))[0], job.Completed)
}

func TestBMCStopsAnsweringMidJob(t *testing.T) {
	h := newHarness(t, 1)
	id := h.submit(alice, simSpec(20*time.Second, 3))[0]
	h.waitState(id, job.Running)
	h.sim("sim001").SetFaults(sim.Faults{Unreachable: true})
	j := h.waitState(id, job.Failed) // the command still ends, and says how
	if j.ExitCode != 3 {
		t.Errorf("exit code %d, want 3", j.ExitCode)
	}
	if st, r := h.nodeInfo("sim001"); st != "DOWN" || !strings.Contains(r, "unreachable") {
		t.Errorf("node behind a dead BMC: %s %q", st, r)
	}
	h.until("two retries", func() bool { return h.action(ActPowerOffRetry) >= 2 })
	if st := h.powerOf("sim001"); st != power.On {
		t.Fatalf("machine is %s while its BMC is dead; the test expects it still on", st)
	}
	h.sim("sim001").SetFaults(sim.Faults{})
	h.until("the node back in service", func() bool { return h.node("sim001").State == node.Idle })
	if st := h.powerOf("sim001"); st != power.Off {
		t.Errorf("machine left %s once its BMC answered", st)
	}
	acts := nodeActions(h.nodeEvents("sim001"))
	if acts[0] != "node_down" || acts[len(acts)-1] != ActNodeUp || !slices.Contains(acts, ActPowerOffRetry) {
		t.Errorf("node events %v", acts)
	}
}

func TestFrozenMachineIsNodeFailAndSwitchedOff(t *testing.T) {
	h := newHarness(t, 1, func(h *harness) { h.cfg.Reconcile.AgentTimeout = 20 * time.Second })
	id := h.submit(alice, simSpec(time.Hour, 0))[0]
	j := h.waitState(id, job.Running)
	h.until("the command to start", func() bool { running, _, _, _ := h.sim("sim001").Status(simnode.RunKey(j)); return running })
	h.sim("sim001").SetFaults(sim.Faults{Frozen: true})
	frozeAt := h.clk.Now()
	j = h.waitState(id, job.NodeFail)
	if d := j.EndTime.Sub(frozeAt); d < 20*time.Second || d > 30*time.Second {
		t.Errorf("NODE_FAIL %s after the freeze; the agent timeout is 20s", d)
	}
	evs := h.events(id)
	off := evs[len(evs)-2]
	if off.State != job.PoweringOff || off.Cause != job.CauseReconciler || !strings.Contains(off.Detail, "node agent silent") {
		t.Errorf("the change that stopped it: %+v", off)
	}
	if st := h.powerOf("sim001"); st != power.Off {
		t.Errorf("frozen machine left %s", st)
	}
	if n := h.node("sim001"); n.State != node.Idle {
		t.Errorf("node %s after its frozen job", n.State)
	}
	if acts := nodeActions(h.nodeEvents("sim001")); !slices.Contains(acts, ActAgentLost) || h.action(ActAgentLost) != 1 {
		t.Errorf("node events %v, %d agent_lost counted", acts, h.action(ActAgentLost))
	}
}

// TestFailedCommitIsRetried: the store refuses the change that records the
// command's end; the reconciler commits it later, keeping the exit status,
// and the job finishes from there.
func TestFailedCommitIsRetried(t *testing.T) {
	h := newHarness(t, 1)
	id := h.submit(alice, simSpec(5*time.Second, 3))[0]
	h.waitState(id, job.Running)
	h.faults.failing.Store(true)
	h.until("the life cycle to stall", func() bool {
		h.c.mu.RLock()
		defer h.c.mu.RUnlock()
		s, ok := h.c.stalls[id]
		return ok && s.step != nil
	})
	h.until("a failed retry", func() bool { return h.action(ActRetryCommit) >= 1 })
	if j := h.job(id); j.State != job.Running {
		t.Fatalf("while nothing commits the job is %s", j.State)
	}
	h.faults.failing.Store(false)
	j := h.waitState(id, job.Failed)
	if j.ExitCode != 3 {
		t.Errorf("exit code %d after the retried commit, want the command's 3", j.ExitCode)
	}
	evs := h.events(id)
	if got := states(evs); got != "PENDING ALLOCATED POWERING_ON BOOTING RUNNING POWERING_OFF FAILED" {
		t.Errorf("events %s", got)
	}
	if off := evs[len(evs)-2]; !strings.Contains(off.Detail, "committed by the reconciler after") {
		t.Errorf("the retried change does not say so: %+v", off)
	}
	if acts := nodeActions(h.nodeEvents("sim001")); !slices.Contains(acts, ActRecoverJob) {
		t.Errorf("node events %v lack %s", acts, ActRecoverJob)
	}
	if st := h.powerOf("sim001"); st != power.Off {
		t.Errorf("machine left %s", st)
	}
	if n := h.node("sim001"); n.State != node.Idle || n.Job != 0 {
		t.Errorf("node %s holding %d", n.State, n.Job)
	}
}

func TestBMCBackReturnsNodeToService(t *testing.T) {
	h := newHarness(t, 1, func(h *harness) {
		h.wrap = func(_ string, m machine.Machine) machine.Machine {
			m.(simnode.Machine).SetFaults(sim.Faults{Unreachable: true})
			return m
		}
	})
	h.until("the node down", func() bool { return h.node("sim001").State == node.Down })
	if n := h.node("sim001"); n.Fault != node.FaultBMC || !strings.Contains(n.Reason, "unreachable") {
		t.Errorf("node %+v", n)
	}
	id := h.submit(alice, simSpec(time.Second, 0))[0]
	h.sim("sim001").SetFaults(sim.Faults{})
	h.waitState(id, job.Completed)
	want := []string{ActNodeDown, ActNodeUp}
	if got := nodeActions(h.nodeEvents("sim001")); !slices.Equal(got, want) {
		t.Errorf("node events %v, want %v", got, want)
	}
}

// unheardAgent is a machine whose agent the controller has not heard since
// it started (after a restart its heartbeats are refused: new tokens).
type unheardAgent struct{ machine.Machine }

func (unheardAgent) LastContact(*job.Job) time.Time { return time.Time{} }
func (u unheardAgent) Unwrap() machine.Machine      { return u.Machine }

// TestUnheardAgentIsNotLost: silence from an agent never heard since the
// controller started says nothing; its job runs to the end.
func TestUnheardAgentIsNotLost(t *testing.T) {
	h := newHarness(t, 1, func(h *harness) {
		h.cfg.Reconcile.AgentTimeout = 20 * time.Second
		h.wrap = func(_ string, m machine.Machine) machine.Machine { return unheardAgent{m} }
	})
	id := h.submit(alice, simSpec(2*time.Minute, 0))[0]
	h.waitState(id, job.Completed)
	if n := h.action(ActAgentLost); n != 0 {
		t.Errorf("%d agent_lost for an agent never heard from", n)
	}
}
