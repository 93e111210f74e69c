package ctld

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/boot"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
)

// abortsFirst aborts the first `times` boots it sees with a security
// conflict, then boots like the machine it wraps.
type abortsFirst struct {
	machine.Machine
	mu    sync.Mutex
	times int
	seen  int
}

func (a *abortsFirst) WaitReady(ctx context.Context, j *job.Job) (machine.Session, error) {
	a.mu.Lock()
	a.seen++
	abort := a.seen <= a.times
	a.mu.Unlock()
	if abort {
		ev := machine.SecurityEvent{Job: j.ID, Boot: j.Boot, Node: j.Node, Kind: boot.ConflictScriptForeign, Remote: netip.MustParseAddr("10.77.1.2"), Route: "/ipxe/{mac}"}
		return nil, fmt.Errorf("%w: %s", machine.ErrBootAborted, ev)
	}
	return a.Machine.WaitReady(ctx, j)
}

// An aborted boot is nobody's failure: the job goes back to the queue with
// no boot attempt counted, the node is switched off and free, and the next
// boot runs the job once.
func TestAbortedBootRequeuesWithoutAnAttempt(t *testing.T) {
	var m *abortsFirst
	h := newHarness(t, 1, func(h *harness) {
		h.cfg.MaxBootAttempts = 2
		h.wrap = func(name string, inner machine.Machine) machine.Machine {
			m = &abortsFirst{Machine: inner, times: 3}
			return m
		}
	})
	id := h.submit(alice, simSpec(time.Second, 0))[0]
	j := h.waitState(id, job.Completed)
	if j.BootAttempts != 0 {
		t.Errorf("boot attempts = %d, want 0: an aborted boot is not the job's", j.BootAttempts)
	}
	evs := h.events(id)
	aborted, running := 0, 0
	for _, e := range evs {
		if e.Reason == job.ReasonBootAborted {
			aborted++
			if e.State != job.Pending || !strings.Contains(e.Detail, "script_foreign") {
				t.Errorf("abort event %+v", e)
			}
		}
		if e.State == job.Running {
			running++
		}
	}
	if aborted != 3 || running != 1 {
		t.Errorf("%d aborts and %d runs, want 3 and 1: %s", aborted, running, states(evs))
	}
	if n := h.node("sim001"); n.State != node.Idle || n.Reason != "" {
		t.Errorf("node after aborted boots: %s %q", n.State, n.Reason)
	}
}

// A security event is written on the job whose boot it hit and on the job
// of the node the request came from.
func TestSecurityEventOnBothJobs(t *testing.T) {
	h := newHarness(t, 2)
	h.c.mu.Lock()
	h.c.nodes["sim001"].Address = netip.MustParseAddr("10.77.1.1")
	h.c.nodes["sim002"].Address = netip.MustParseAddr("10.77.1.2")
	h.c.mu.Unlock()
	attacker := h.submit(alice, simSpec(time.Hour, 0))[0]
	h.waitState(attacker, job.Running)
	victim := h.submit(bob, simSpec(time.Hour, 0))[0]
	v := h.waitState(victim, job.Running)
	a := h.job(attacker)
	h.c.SecurityEvent(machine.SecurityEvent{Job: victim, Boot: v.Boot, Node: v.Node, Kind: boot.ConflictTokenForeign,
		Remote: h.node(a.Node).Address, Route: "GET /agent/config"})
	find := func(id uint64) string {
		for _, e := range h.events(id) {
			if e.Reason == job.ReasonSecurity {
				return e.Detail
			}
		}
		return ""
	}
	if d := find(victim); !strings.Contains(d, "token_foreign") || !strings.Contains(d, fmt.Sprintf("node %s, job %d", a.Node, attacker)) {
		t.Errorf("victim's event: %q", d)
	}
	if d := find(attacker); !strings.Contains(d, fmt.Sprintf("touched job %d's boot on %s", victim, v.Node)) {
		t.Errorf("attacker's event: %q", d)
	}
}

// A security event whose commit failed is kept and written by the
// reconciler once the store takes writes again.
func TestSecurityEventStoredAfterAFailedCommit(t *testing.T) {
	h := newHarness(t, 1)
	id := h.submit(alice, simSpec(time.Hour, 0))[0]
	j := h.waitState(id, job.Running)
	h.faults.failing.Store(true)
	h.c.SecurityEvent(machine.SecurityEvent{Job: id, Boot: j.Boot, Node: j.Node, Kind: boot.ConflictTokenForeign,
		Remote: netip.MustParseAddr("10.77.9.9"), Route: "GET /agent/config"})
	has := func() (jobEv, nodeEv bool) {
		for _, e := range h.events(id) {
			jobEv = jobEv || e.Reason == job.ReasonSecurity
		}
		for _, e := range h.nodeEvents(j.Node) {
			nodeEv = nodeEv || e.Action == "security_event"
		}
		return
	}
	if a, b := has(); a || b {
		t.Fatalf("stored while the store failed: job %v, node %v", a, b)
	}
	h.faults.failing.Store(false)
	h.until("the event to be stored", func() bool { a, b := has(); return a && b })
}
