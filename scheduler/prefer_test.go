package scheduler

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// TestPreferredKind covers Snapshot.Prefer: the preferred kind is taken
// when free (even if another kind fits better), the job waits for it while
// only other kinds are free, takes any node once it has waited
// PreferWaitMax, and jobs without a preference keep the normal order.
func TestPreferredKind(t *testing.T) {
	kind := func(n *node.Node, arch, k string) *node.Node {
		n.Arch, n.Kind = arch, k
		return n
	}
	x86 := func(name string) *node.Node { return kind(idle(name), "x86_64", "sim-x86") }
	// The arm node is bigger, so plain best fit would pick x86 first.
	arm := func(name string) *node.Node {
		n := kind(idle(name), "aarch64", "sim-arm")
		n.Cores = 16
		return n
	}
	armBusy := func(name string, id uint64) *node.Node {
		n := arm(name)
		n.State, n.Job = node.Allocated, id
		return n
	}
	anyArch := func(id uint64, age time.Duration) *job.Job {
		return with(pending(id, age), func(j *job.Job) { j.Spec.Arch = "any" })
	}
	const reason = "energy: sim-arm used 1,234 J on average for this image and command (3 runs) vs 2,345 J on sim-x86"
	prefArm := map[uint64]Preference{1: {Kind: "sim-arm", Reason: reason}}
	tests := []struct {
		name     string
		snap     Snapshot
		backfill bool
		placed   map[uint64][]string
		reasons  map[uint64]job.Reason
		why      string // prefix of job 1's Why
	}{
		{
			name:   "no preference: best fit as usual",
			snap:   Snapshot{Nodes: []*node.Node{arm("a1"), x86("x1")}, Jobs: []*job.Job{anyArch(1, time.Minute)}},
			placed: map[uint64][]string{1: {"x1"}},
			why:    "best fit:",
		},
		{
			name:   "preferred kind chosen over a better fit",
			snap:   Snapshot{Nodes: []*node.Node{arm("a1"), x86("x1")}, Jobs: []*job.Job{anyArch(1, time.Minute)}, Prefer: prefArm},
			placed: map[uint64][]string{1: {"a1"}},
			why:    reason + "; best fit:",
		},
		{
			name: "waits while only other kinds are free; others still run",
			snap: Snapshot{Nodes: []*node.Node{armBusy("a1", 50), x86("x1"), x86("x2")},
				Jobs: []*job.Job{running(50, "a1", t0, time.Hour), anyArch(1, 9*time.Minute), pending(2, time.Minute)}, Prefer: prefArm},
			backfill: true,
			placed:   map[uint64][]string{2: {"x1"}},
			reasons:  map[uint64]job.Reason{1: job.ReasonResources},
		},
		{
			name: "waits without backfill too, and does not hold the other kind",
			snap: Snapshot{Nodes: []*node.Node{armBusy("a1", 50), x86("x1")},
				Jobs: []*job.Job{running(50, "a1", t0, time.Hour), anyArch(1, 9*time.Minute), pending(2, time.Minute)}, Prefer: prefArm},
			placed:  map[uint64][]string{2: {"x1"}},
			reasons: map[uint64]job.Reason{1: job.ReasonResources},
		},
		{
			name: "falls back to any feasible node after the limit",
			snap: Snapshot{Nodes: []*node.Node{armBusy("a1", 50), x86("x1")},
				Jobs: []*job.Job{running(50, "a1", t0, time.Hour), anyArch(1, 10*time.Minute)}, Prefer: prefArm},
			backfill: true,
			placed:   map[uint64][]string{1: {"x1"}},
			why:      "preferred kind sim-arm not free after 10m; best fit:",
		},
		{
			name: "after the limit the preferred kind still wins when free",
			snap: Snapshot{Nodes: []*node.Node{arm("a1"), x86("x1")},
				Jobs: []*job.Job{anyArch(1, time.Hour)}, Prefer: prefArm},
			placed: map[uint64][]string{1: {"a1"}},
			why:    reason,
		},
		{
			name: "a kind the job cannot use is ignored",
			snap: Snapshot{Nodes: []*node.Node{arm("a1"), x86("x1")},
				Jobs: []*job.Job{with(anyArch(1, time.Minute), func(j *job.Job) { j.Spec.Arch = "x86_64" })}, Prefer: prefArm},
			placed: map[uint64][]string{1: {"x1"}},
			why:    "best fit:",
		},
		{
			name: "a kind with no node that takes jobs is ignored",
			snap: Snapshot{Nodes: []*node.Node{with(arm("a1"), func(n *node.Node) { n.State = node.Down }), x86("x1")},
				Jobs: []*job.Job{anyArch(1, time.Minute)}, Prefer: prefArm},
			placed: map[uint64][]string{1: {"x1"}},
			why:    "best fit:",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.snap.Now = t0
			plan := Schedule(&tc.snap, testCfg(tc.backfill))
			if got := placed(plan); !maps.EqualFunc(got, tc.placed, func(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }) {
				t.Errorf("placed %v, want %v", got, tc.placed)
			}
			for id, r := range tc.reasons {
				if plan.Reasons[id] != r {
					t.Errorf("job %d reason %q, want %q", id, plan.Reasons[id], r)
				}
			}
			if tc.why != "" {
				for _, a := range plan.Assignments {
					if a.JobID == 1 && !strings.HasPrefix(a.Why, tc.why) {
						t.Errorf("why %q, want prefix %q", a.Why, tc.why)
					}
				}
			}
		})
	}
}

func TestImageArchKeepsJobsOffMachinesTheImageLacks(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	x86 := &node.Node{Config: node.Config{Name: "x1", Arch: "x86_64", Cores: 8, Memory: 1 << 30}, State: node.Idle}
	arm := &node.Node{Config: node.Config{Name: "a1", Arch: "aarch64", Cores: 8, Memory: 1 << 30}, State: node.Idle}
	mk := func(id uint64, archs ...string) *job.Job {
		return &job.Job{ID: id, ArrayTaskID: -1, State: job.Pending, SubmitTime: now,
			Spec: &job.Spec{Arch: "any", Nodes: 1, ImageArchs: archs}}
	}
	cfg := DefaultConfig()
	// Only the arm machine is free: an amd64-only image must not go there.
	busyX86 := *x86
	busyX86.State, busyX86.Job = node.Allocated, 99
	plan := Schedule(&Snapshot{Now: now, Nodes: []*node.Node{&busyX86, arm}, Jobs: []*job.Job{mk(1, "x86_64")}}, cfg)
	if len(plan.Assignments) != 0 {
		t.Fatalf("amd64-only image placed on %s", plan.Assignments[0].Node)
	}
	// With only arm machines in the cluster it can never run there.
	plan = Schedule(&Snapshot{Now: now, Nodes: []*node.Node{arm}, Jobs: []*job.Job{mk(2, "x86_64")}}, cfg)
	if plan.Reasons[2] != job.ReasonImageArch {
		t.Errorf("reason = %s, want %s", plan.Reasons[2], job.ReasonImageArch)
	}
	// A multi-platform image goes wherever there is room.
	plan = Schedule(&Snapshot{Now: now, Nodes: []*node.Node{&busyX86, arm}, Jobs: []*job.Job{mk(3, "aarch64", "x86_64")}}, cfg)
	if len(plan.Assignments) != 1 || plan.Assignments[0].Node != "a1" {
		t.Errorf("multi-platform image: %+v", plan.Assignments)
	}
	if err := Feasible(&job.Spec{Arch: "any", Nodes: 1, ImageArchs: []string{"x86_64"}}, []*node.Node{arm}, cfg); err == nil {
		t.Error("Feasible accepted an amd64-only image on an arm-only cluster")
	}
}
