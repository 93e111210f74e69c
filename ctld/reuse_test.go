package ctld

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/store"
)

// onNoCycle is a job's history when it took a machine that was still on.
const onNoCycle = "PENDING ALLOCATED POWERING_ON BOOTING RUNNING"

// ledger returns the joules billed to a job by phase.
func (h *harness) phaseJoules(id uint64) map[string]float64 {
	out := map[string]float64{}
	h.st.View(func(tx *store.Tx) error {
		return tx.ForEachLedgerEntry(func(e *store.LedgerEntry) error {
			if e.Job == id {
				out[e.Phase] += e.Joules
			}
			return nil
		})
	})
	return out
}

// eventDetail returns the detail of a job's first event in state s.
func eventDetail(evs []job.Event, s job.State) string {
	for _, e := range evs {
		if e.State == s {
			return e.Detail
		}
	}
	return ""
}

// warmOn keeps machines on after their jobs, as bmcctld does by default
// (the harness switches them off at once).
func warmOn(h *harness) { h.cfg.Reconcile.IdleOff = IdleOffBreakeven }

func TestReuseSameUserResetsWithoutAPowerCycle(t *testing.T) {
	h := newHarness(t, 1, warmOn)
	spec := simSpec(5*time.Second, 0)
	ids := h.submit(alice, spec)
	ids = append(ids, h.submit(alice, spec)...)
	first := h.waitState(ids[0], job.Completed)
	second := h.waitState(ids[1], job.Completed)

	if got := states(h.events(ids[0])); got != onNoCycle+" POWERING_OFF COMPLETED" {
		t.Errorf("first job: %s\nwant %s POWERING_OFF COMPLETED", got, onNoCycle)
	}
	evs := h.events(ids[1])
	if got, want := states(evs), onNoCycle+" POWERING_OFF COMPLETED"; got != want {
		t.Errorf("second job: %s\nwant %s", got, want)
	}
	if d := eventDetail(evs, job.PoweringOn); !strings.Contains(d, "reset") || !strings.Contains(d, fmt.Sprint(ids[0])) {
		t.Errorf("second job's POWERING_ON says %q; want the reset after job %d", d, ids[0])
	}
	if d := eventDetail(evs, job.Running); !strings.HasPrefix(d, "reset in") {
		t.Errorf("second job's RUNNING says %q", d)
	}
	// A 3 s boot was skipped: the second command started at most one
	// scheduling pass after the first ended.
	if gap := second.RunTime.Sub(first.EndTime); gap < 0 || gap >= 3*time.Second {
		t.Errorf("second job started %s after the first ended; want less than a boot", gap)
	}
	// Each job billed on its own; the boot only to the first.
	l1, l2 := h.phaseJoules(ids[0]), h.phaseJoules(ids[1])
	if l1["boot"] <= 0 || l1["run"] <= 0 || l2["run"] <= 0 {
		t.Errorf("bills: first %v, second %v", l1, l2)
	}
	// The second job's "boot" is the reset (instant on a simulated
	// machine, but the fake clock moves on while the controller works).
	if l2["boot"] >= l1["boot"]/2 {
		t.Errorf("second job billed %.1f J of boot against the first's %.1f; the machine was on", l2["boot"], l1["boot"])
	}
	acts := nodeActions(h.nodeEvents(first.Node))
	for _, want := range []string{ActIdleOn, ActReuse} {
		if !slices.Contains(acts, want) {
			t.Errorf("node events %v lack %s", acts, want)
		}
	}
	for _, e := range h.nodeEvents(first.Node) {
		if e.Action == ActIdleOn && e.Job == ids[0] && !strings.Contains(e.Detail, accounting.ReasonReuseGap) {
			t.Errorf("idle_on event %q does not name %s", e.Detail, accounting.ReasonReuseGap)
		}
	}
	h.until("the node to be off and idle", func() bool {
		n := h.node(first.Node)
		st, _ := h.sim(first.Node).PowerState(context.Background())
		return n.State == node.Idle && n.Warm == nil && st == power.Off
	})
}

// powerCycled checks that the second job booted after a power-off.
func powerCycled(t *testing.T, h *harness, a, b uint64) {
	t.Helper()
	if got := states(h.events(a)); !strings.Contains(got, "POWERING_OFF") {
		t.Errorf("job %d: %s; want a power off", a, got)
	}
	if d := eventDetail(h.events(b), job.Running); !strings.HasPrefix(d, "booted in") {
		t.Errorf("job %d RUNNING says %q; want a boot", b, d)
	}
	for _, e := range h.nodeEvents(h.job(a).Node) {
		if e.Action == ActReuse {
			t.Errorf("node event %s: %s", e.Action, e.Detail)
		}
	}
}

func TestReuseNeverForAnotherUserNorWhenRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy ReusePolicy
		second func(*job.Spec) Identity
	}{
		{"another user", "", func(*job.Spec) Identity { return bob }},
		{"reuse = false", "", func(s *job.Spec) Identity { s.NoReuse = true; return alice }},
		{"another image", "", func(s *job.Spec) Identity { s.Image = "alpine"; return alice }},
		{"another kernel without kexec", "", func(s *job.Spec) Identity { s.Kernel = "k2"; return alice }},
		{"policy never", ReuseNever, func(*job.Spec) Identity { return alice }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 1, warmOn, func(h *harness) { h.cfg.Reuse = tc.policy })
			a := h.submit(alice, simSpec(5*time.Second, 0))[0]
			spec := simSpec(5*time.Second, 0)
			b := h.submit(tc.second(&spec), spec)[0]
			h.waitState(a, job.Completed)
			h.waitState(b, job.Completed)
			powerCycled(t, h, a, b)
		})
	}
}

func TestReuseWaitsBehindAnOlderJobOfAnotherUser(t *testing.T) {
	h := newHarness(t, 1, warmOn)
	a := h.submit(alice, simSpec(5*time.Second, 0))[0]
	h.waitState(a, job.Running)
	// bob waits longer than alice's second job: the warm machine is
	// switched off for him rather than handed to alice.
	b := h.submit(bob, simSpec(time.Second, 0))[0]
	h.clk.Advance(time.Second)
	a2 := h.submit(alice, simSpec(time.Second, 0))[0]
	h.waitState(a, job.Completed)
	h.waitState(b, job.Completed)
	h.waitState(a2, job.Completed)
	if d := eventDetail(h.events(b), job.Running); !strings.HasPrefix(d, "booted in") {
		t.Errorf("bob's job RUNNING says %q; want a boot after a power cycle", d)
	}
	if h.job(b).StartTime.After(h.job(a2).StartTime) {
		t.Errorf("alice's later job started before bob's older one")
	}
}

func TestKexecForAnotherKernelAndFallbackWhereRefused(t *testing.T) {
	for _, tc := range []struct {
		node     int // 1: sim001 (x86_64), 2: sim002 (aarch64)
		arch     string
		fellBack bool
	}{{1, "x86_64", false}, {2, "aarch64", true}} {
		t.Run(tc.arch, func(t *testing.T) {
			h := newHarness(t, tc.node, warmOn, func(h *harness) {
				h.nodeCfg = func(c *node.Config) { c.Kexec = true }
			})
			spec := simSpec(5*time.Second, 0)
			spec.Arch = tc.arch
			a := h.submit(alice, spec)[0]
			spec.Cmdline = "quiet"
			b := h.submit(alice, spec)[0]
			h.waitState(a, job.Completed)
			h.waitState(b, job.Completed)
			evs := h.events(b)
			if d := eventDetail(evs, job.PoweringOn); !strings.HasPrefix(d, "kexec") {
				t.Errorf("POWERING_ON says %q; want kexec", d)
			}
			run, booting := eventDetail(evs, job.Running), eventDetail(evs, job.Booting)
			if !tc.fellBack {
				if !strings.HasPrefix(run, "kexec'd in") || booting != "" {
					t.Errorf("BOOTING %q, RUNNING %q; want a kexec", booting, run)
				}
				return
			}
			if !strings.HasPrefix(run, "booted in") || !strings.Contains(booting, "CONFIG_KEXEC_FILE") {
				t.Errorf("BOOTING %q, RUNNING %q; want a power cycle saying why", booting, run)
			}
			var why string
			for _, e := range h.nodeEvents(h.job(b).Node) {
				if e.Action == ActReuseFail {
					why = e.Detail
				}
			}
			if !strings.Contains(why, "refused") {
				t.Errorf("node event %s says %q", ActReuseFail, why)
			}
		})
	}
}
