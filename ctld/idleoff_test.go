package ctld

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/store"
)

func TestBreakevenFigures(t *testing.T) {
	cfg := node.Config{BootJoules: 30000, IdleWatts: 100}
	for _, tc := range []struct {
		name string
		cfg  node.Config
		k    store.KindEnergy
		want time.Duration
		ok   bool
	}{
		{"nodes file", cfg, store.KindEnergy{}, 300 * time.Second, true},
		{"ledger boots replace the nodes file", cfg, store.KindEnergy{Boots: 3, BootJoules: 60000}, 600 * time.Second, true},
		{"a lower measured run power replaces idle", cfg, store.KindEnergy{Runs: 2, LowWatts: 50}, 600 * time.Second, true},
		{"a higher one does not", cfg, store.KindEnergy{Runs: 2, LowWatts: 150}, 300 * time.Second, true},
		{"ledger alone", node.Config{}, store.KindEnergy{Boots: 1, BootJoules: 9000, Runs: 1, LowWatts: 90}, 100 * time.Second, true},
		{"no idle figure", node.Config{BootJoules: 1}, store.KindEnergy{}, 0, false},
		{"no boot figure", node.Config{IdleWatts: 1}, store.KindEnergy{}, 0, false},
	} {
		got, ok := BreakevenHold(tc.cfg, tc.k)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestIdleOffPolicyFlag(t *testing.T) {
	var p IdleOffPolicy
	for _, s := range []string{"immediate", "breakeven", "never"} {
		if err := p.Set(s); err != nil || string(p) != s {
			t.Errorf("Set(%q): %v, %q", s, err, p)
		}
	}
	if err := p.Set("sometimes"); err == nil || !strings.Contains(err.Error(), "immediate, breakeven or never") {
		t.Errorf("Set(sometimes): %v", err)
	}
	rc := DefaultReconcileConfig()
	if rc.IdleOff != IdleOffBreakeven {
		t.Errorf("default policy %q, want breakeven", rc.IdleOff)
	}
	rc.IdleOff = "x"
	if rc.Validate() == nil {
		t.Error("an unknown policy validated")
	}
}

// warmHarness runs one node whose nodes-file entry makes its break-even
// 300 s (30 kJ to boot, 100 W idle).
func warmHarness(t *testing.T, nodes int, policy IdleOffPolicy) *harness {
	return newHarness(t, nodes, func(h *harness) {
		h.cfg.Reconcile.IdleOff = policy
		h.nodeCfg = func(c *node.Config) { c.BootJoules, c.IdleWatts = 30000, 100 }
	})
}

// idleOffAt is when the node's last idle_off event happened, or zero.
func (h *harness) idleOffAt(name string) (time.Time, string) {
	evs := h.nodeEvents(name)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Action == ActIdleOff {
			return evs[i].Time, evs[i].Detail
		}
	}
	return time.Time{}, ""
}

func TestIdleOffPolicies(t *testing.T) {
	t.Run("immediate: off at the job's end", func(t *testing.T) {
		h := warmHarness(t, 1, IdleOffImmediate)
		id := h.submit(alice, simSpec(5*time.Second, 0))[0]
		h.waitState(id, job.Completed)
		if n := h.node("sim001"); n.State != node.Idle || h.powerOf("sim001") != power.Off {
			t.Errorf("node %s, machine %s; want IDLE and off", n.State, h.powerOf("sim001"))
		}
	})

	t.Run("breakeven: on while a waiting job fits, off at T", func(t *testing.T) {
		h := warmHarness(t, 1, IdleOffBreakeven)
		id := h.submit(alice, simSpec(5*time.Second, 0))[0]
		later := simSpec(time.Second, 0)
		later.Begin = t0.Add(time.Hour) // waits, and fits the node
		h.submit(alice, later)
		j := h.waitState(id, job.Completed)
		n := h.node("sim001")
		if n.State != node.IdleOn || n.WarmUser != "alice" || h.powerOf("sim001") != power.On {
			t.Fatalf("node after the job: %s for %q, machine %s; want IDLE-ON for alice, on", n.State, n.WarmUser, h.powerOf("sim001"))
		}
		if want := j.EndTime.Add(300 * time.Second); n.WarmUntil.Sub(want).Abs() > time.Second {
			t.Errorf("warm until %s, want the job's end + 300s = %s", n.WarmUntil, want)
		}
		st, reason := h.nodeInfo("sim001")
		if st != "IDLE-ON" || !strings.Contains(reason, "kept on for the next job") {
			t.Errorf("bmcq nodes: %s %q", st, reason)
		}
		h.until("the break-even to pass", func() bool { return h.powerOf("sim001") == power.Off && h.node("sim001").State == node.Idle })
		at, detail := h.idleOffAt("sim001")
		if d := at.Sub(j.EndTime); d < 300*time.Second || d > 300*time.Second+h.cfg.Reconcile.Interval+time.Second {
			t.Errorf("switched off %s after the job; want its break-even, 300s (%s)", d, detail)
		}
		if !strings.Contains(detail, "break-even") {
			t.Errorf("idle_off event says %q", detail)
		}
	})

	t.Run("breakeven: off early when no waiting job fits", func(t *testing.T) {
		h := warmHarness(t, 1, IdleOffBreakeven)
		id := h.submit(alice, simSpec(5*time.Second, 0))[0]
		big := simSpec(time.Second, 0)
		big.Cores = 64 // waits for nothing here: no node this size
		big.Begin = t0.Add(time.Hour)
		j := h.waitState(id, job.Completed)
		h.until("the machine off", func() bool { return h.powerOf("sim001") == power.Off && h.node("sim001").State == node.Idle })
		at, detail := h.idleOffAt("sim001")
		if d := at.Sub(j.EndTime); d >= 300*time.Second || d > 2*h.cfg.Reconcile.Interval {
			t.Errorf("switched off %s after the job, want within a reconcile pass", d)
		}
		if !strings.Contains(detail, "no waiting job fits") {
			t.Errorf("idle_off event says %q", detail)
		}
	})

	t.Run("never: on until a job needs it, power-cycled for it", func(t *testing.T) {
		var offs atomic.Int32
		h := newHarness(t, 1, func(h *harness) {
			h.cfg.Reconcile.IdleOff = IdleOffNever
			h.wrap = func(_ string, m machine.Machine) machine.Machine { return &countOffs{m, &offs} }
		})
		id := h.submit(alice, simSpec(5*time.Second, 0))[0]
		h.waitState(id, job.Completed)
		end := h.clk.Now()
		h.until("ten minutes with nothing to do", func() bool { return h.clk.Now().Sub(end) > 10*time.Minute })
		if n := h.node("sim001"); n.State != node.IdleOn || !n.WarmUntil.IsZero() || h.powerOf("sim001") != power.On {
			t.Fatalf("node %s until %s, machine %s; want IDLE-ON with no deadline, on", n.State, n.WarmUntil, h.powerOf("sim001"))
		}
		before := offs.Load()
		id2 := h.submit(bob, simSpec(time.Second, 0))[0]
		h.until("bob's job running", func() bool { return h.job(id2).State == job.Running })
		if got := offs.Load() - before; got != 1 {
			t.Errorf("%d power-offs before bob's job ran on the warm machine, want 1 (a power cycle)", got)
		}
		h.waitState(id2, job.Completed)
	})

	t.Run("drained IDLE-ON machine goes off", func(t *testing.T) {
		h := warmHarness(t, 1, IdleOffNever)
		id := h.submit(alice, simSpec(5*time.Second, 0))[0]
		h.waitState(id, job.Completed)
		if err := h.c.NodeAction(root, "sim001", "drain", "maintenance"); err != nil {
			t.Fatal(err)
		}
		h.until("the machine off", func() bool { return h.node("sim001").State == node.Idle })
		if h.powerOf("sim001") != power.Off {
			t.Error("machine left on")
		}
		if _, detail := h.idleOffAt("sim001"); !strings.Contains(detail, "drained") {
			t.Errorf("idle_off event says %q", detail)
		}
	})
}

// TestWarmMachineGoesToItsUser: with two machines and one IDLE-ON after
// alice's job, alice's next job takes it and bob's takes the cold one.
func TestWarmMachineGoesToItsUser(t *testing.T) {
	h := warmHarness(t, 3, IdleOffNever)
	// sim001 and sim003 are the same kind; sim002 another.
	s := simSpec(5*time.Second, 0)
	s.Arch = "x86_64"
	id := h.submit(alice, s)[0]
	warm := h.waitState(id, job.Completed).Node
	b := h.waitState(h.submit(bob, s)[0], job.Completed)
	if b.Node == warm {
		t.Errorf("bob's job took alice's warm machine %s while another was cold", warm)
	}
	a := h.waitState(h.submit(alice, s)[0], job.Completed)
	if a.Node != warm {
		t.Errorf("alice's next job ran on %s, not on her warm machine %s", a.Node, warm)
	}
}

// countOffs counts the power-offs asked of a machine.
type countOffs struct {
	machine.Machine
	n *atomic.Int32
}

func (c *countOffs) PowerOff(ctx context.Context) error {
	c.n.Add(1)
	return c.Machine.PowerOff(ctx)
}

func (c *countOffs) Unwrap() machine.Machine { return c.Machine }
