package scheduler

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// TestBackfill runs hand-computed scenarios. Boot is zero unless a case
// says otherwise, so a job placed now ends at t0 + its limit. Every job runs
// on one node: the job at the head waits only when none of its nodes is
// free, so jobs behind it take nodes it cannot use, with backfill or without
// (the Why and the reservation differ), and a multi-node job is never placed.
func TestBackfill(t *testing.T) {
	noBoot := func(n *node.Node) *node.Node { n.ExpectedBoot = 0; return n }
	lim := func(j *job.Job, d time.Duration) *job.Job { j.Spec.TimeLimit = job.Duration(d); return j }
	big := func(n *node.Node) *node.Node { n.Cores = 32; return n }
	// wants16 asks for 16 cores: only the big nodes fit it.
	wants16 := func(id uint64, age time.Duration) *job.Job {
		return with(pending(id, age), func(j *job.Job) { j.Spec.Cores = 16 })
	}
	tests := []struct {
		name     string
		nodes    []*node.Node
		jobs     []*job.Job
		end      map[uint64]time.Time // Snapshot.ExpectedEnd
		backfill bool
		placed   map[uint64][]string
		reasons  map[uint64]job.Reason
		reserve  map[uint64]time.Time
		why      map[string]string // node -> Why
	}{
		{
			// b1 frees at +10m, b2 at +30m: job 10 is promised +10m. The
			// small nodes are no use to it, so jobs 11 and 12 take them
			// whatever their length.
			name:  "head job reserved, the jobs behind take what it cannot use",
			nodes: []*node.Node{noBoot(big(busy("b1", 1))), noBoot(big(busy("b2", 2))), noBoot(idle("n3")), noBoot(idle("n4"))},
			jobs: []*job.Job{running(1, "b1", t0.Add(-50*time.Minute), time.Hour), running(2, "b2", t0, 30*time.Minute),
				wants16(10, 3*time.Hour), lim(pending(11, time.Hour), 5*time.Minute), lim(pending(12, 2*time.Hour), 10*time.Hour)},
			backfill: true,
			placed:   map[uint64][]string{11: {"n4"}, 12: {"n3"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources},
			reserve:  map[uint64]time.Time{10: t0.Add(10 * time.Minute)},
			why:      map[string]string{"n3": "backfill: node not needed by job 10's reservation at 12:10:00"},
		},
		{
			name:  "strict priority places the same jobs",
			nodes: []*node.Node{noBoot(big(busy("b1", 1))), noBoot(big(busy("b2", 2))), noBoot(idle("n3")), noBoot(idle("n4"))},
			jobs: []*job.Job{running(1, "b1", t0.Add(-50*time.Minute), time.Hour), running(2, "b2", t0, 30*time.Minute),
				wants16(10, 3*time.Hour), lim(pending(11, time.Hour), 5*time.Minute), lim(pending(12, 2*time.Hour), 10*time.Hour)},
			placed:  map[uint64][]string{11: {"n4"}, 12: {"n3"}},
			reasons: map[uint64]job.Reason{10: job.ReasonResources},
			reserve: map[uint64]time.Time{},
			why:     map[string]string{"n3": "best fit: 1/8 cores, 16 GiB spare, boot ~0s; ahead of job 10, which cannot use this node"},
		},
		{
			// Jobs 10 and 11 both want a big node: 10 is reserved, 11 waits
			// behind it with Priority.
			name:  "Priority behind the reserved job",
			nodes: []*node.Node{noBoot(big(busy("b1", 1))), noBoot(idle("n2"))},
			jobs: []*job.Job{running(1, "b1", t0, time.Hour), wants16(10, 3*time.Hour), wants16(11, 2*time.Hour),
				pending(12, time.Hour)},
			backfill: true,
			placed:   map[uint64][]string{12: {"n2"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources, 11: job.ReasonPriority},
			reserve:  map[uint64]time.Time{10: t0.Add(time.Hour)},
		},
		{
			// ExpectedEnd overrides start + limit: b2 frees at +5m.
			name:  "expected end from the controller",
			nodes: []*node.Node{noBoot(big(busy("b1", 1))), noBoot(big(busy("b2", 2))), noBoot(idle("n3"))},
			jobs: []*job.Job{running(1, "b1", t0, 10*time.Minute), running(2, "b2", t0, time.Hour),
				wants16(10, 3*time.Hour), lim(pending(11, time.Hour), 6*time.Minute)},
			end:      map[uint64]time.Time{2: t0.Add(5 * time.Minute)},
			backfill: true,
			placed:   map[uint64][]string{11: {"n3"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources},
			reserve:  map[uint64]time.Time{10: t0.Add(5 * time.Minute)},
		},
		{
			// The node the head job reserves was itself placed in this
			// pass, and its boot counts: job 9 takes n1 (boots 10m, runs
			// 1h), job 10 waits for it.
			name:     "reservation behind a job placed in the same pass",
			nodes:    []*node.Node{with(idle("n1"), func(n *node.Node) { n.ExpectedBoot = 10 * time.Minute })},
			jobs:     []*job.Job{pending(9, 4*time.Hour), pending(10, 3*time.Hour)},
			backfill: true,
			placed:   map[uint64][]string{9: {"n1"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources},
			reserve:  map[uint64]time.Time{10: t0.Add(70 * time.Minute)},
		},
		{
			// The head job wants the gpu node; the cpu node is no use to it,
			// so a long job may have it.
			name: "node the reservation cannot use",
			nodes: []*node.Node{with(noBoot(busy("gpu", 1)), func(n *node.Node) { n.Features = []string{"gpu"} }),
				noBoot(idle("cpu"))},
			jobs: []*job.Job{running(1, "gpu", t0, time.Hour),
				with(pending(10, 2*time.Hour), func(j *job.Job) { j.Spec.Features = []string{"gpu"} }),
				lim(pending(11, time.Hour), 10*time.Hour)},
			backfill: true,
			placed:   map[uint64][]string{11: {"cpu"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources},
			reserve:  map[uint64]time.Time{10: t0.Add(time.Hour)},
			why:      map[string]string{"cpu": "backfill: node not needed by job 10's reservation at 13:00:00"},
		},
		{
			// A reservation on another day shows its date; times show in
			// the zone of Snapshot.Now whatever zone the controller used.
			name:  "reservation tomorrow",
			nodes: []*node.Node{noBoot(big(busy("b1", 1))), noBoot(idle("n2"))},
			jobs: []*job.Job{running(1, "b1", t0.In(time.FixedZone("X", 3600)), 13*time.Hour), wants16(10, 3*time.Hour),
				lim(pending(11, time.Hour), time.Minute)},
			backfill: true,
			placed:   map[uint64][]string{11: {"n2"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources},
			reserve:  map[uint64]time.Time{10: t0.Add(13 * time.Hour)},
			why:      map[string]string{"n2": "backfill: node not needed by job 10's reservation at 2026-11-26 01:00:00"},
		},
		{
			// A job past its limit may end any moment: the reservation is
			// now. The node behind it is still no use to the head job.
			name:     "overdue job",
			nodes:    []*node.Node{noBoot(big(busy("b1", 1))), noBoot(idle("n2"))},
			jobs:     []*job.Job{running(1, "b1", t0.Add(-2*time.Hour), time.Hour), wants16(10, 3*time.Hour), lim(pending(11, time.Hour), time.Minute)},
			backfill: true,
			placed:   map[uint64][]string{11: {"n2"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources},
			reserve:  map[uint64]time.Time{10: t0},
		},
		{
			// A job that asks for two nodes (an old record: submit refuses
			// it) is never placed and holds nobody back.
			name:     "multi-node job never planned",
			nodes:    []*node.Node{noBoot(idle("n1")), noBoot(idle("n2"))},
			jobs:     []*job.Job{with(pending(10, 3*time.Hour), func(j *job.Job) { j.Spec.Nodes = 2 }), pending(11, time.Hour)},
			backfill: true,
			placed:   map[uint64][]string{11: {"n1"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonBadConstraints},
			reserve:  map[uint64]time.Time{},
			why:      map[string]string{"n1": "best fit: 1/8 cores, 16 GiB spare, boot ~0s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Snapshot{Now: t0, Nodes: tt.nodes, Jobs: tt.jobs, ExpectedEnd: tt.end}
			p := Schedule(s, testCfg(tt.backfill))
			if got := placed(p); !maps.EqualFunc(got, tt.placed, slices.Equal) {
				t.Errorf("placed = %v, want %v", got, tt.placed)
			}
			if !maps.Equal(p.Reasons, tt.reasons) {
				t.Errorf("reasons = %v, want %v", p.Reasons, tt.reasons)
			}
			if !maps.EqualFunc(p.Reservation, tt.reserve, time.Time.Equal) {
				t.Errorf("reservation = %v, want %v", p.Reservation, tt.reserve)
			}
			for _, a := range p.Assignments {
				if w, ok := tt.why[a.Node]; ok && a.Why != w {
					t.Errorf("why %s = %q, want %q", a.Node, a.Why, w)
				}
				ahead := false
				for top := range p.Reservation {
					ahead = p.Priority[a.JobID] < p.Priority[top]
				}
				if a.Backfilled != ahead {
					t.Errorf("%s backfilled = %v", a.Node, a.Backfilled)
				}
			}
		})
	}
}
