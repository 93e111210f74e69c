package scheduler

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// TestBackfill runs hand-computed EASY scenarios. Boot is zero unless a case
// says otherwise, so a job placed now ends at t0 + its limit.
func TestBackfill(t *testing.T) {
	noBoot := func(n *node.Node) *node.Node { n.ExpectedBoot = 0; return n }
	lim := func(j *job.Job, d time.Duration) *job.Job { j.Spec.TimeLimit = job.Duration(d); return j }
	wide := func(id uint64, n int) *job.Job {
		return with(pending(id, 3*time.Hour), func(j *job.Job) { j.Spec.Nodes = n })
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
			// n1 frees at +10m, n2 at +30m; the 4-node job 10 can start at +30m
			// on n1..n4. Job 11 (5m) ends before that and takes n3; job 12 (2h)
			// would hold n4 past +30m, so it waits.
			name:  "wide job blocked, short job backfilled, long job not",
			nodes: []*node.Node{noBoot(busy("n1", 1)), noBoot(busy("n2", 2)), noBoot(idle("n3")), noBoot(idle("n4"))},
			jobs: []*job.Job{running(1, "n1", t0.Add(-50*time.Minute), time.Hour), running(2, "n2", t0, 30*time.Minute),
				wide(10, 4), lim(pending(11, time.Hour), 5*time.Minute), lim(pending(12, 2*time.Hour), 2*time.Hour)},
			backfill: true,
			placed:   map[uint64][]string{11: {"n3"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources, 12: job.ReasonPriority},
			reserve:  map[uint64]time.Time{10: t0.Add(30 * time.Minute)},
			why:      map[string]string{"n3": "backfill: ends before job 10's reservation at 12:30:00"},
		},
		{
			name:  "without backfill nobody passes the wide job",
			nodes: []*node.Node{noBoot(busy("n1", 1)), noBoot(busy("n2", 2)), noBoot(idle("n3")), noBoot(idle("n4"))},
			jobs: []*job.Job{running(1, "n1", t0.Add(-50*time.Minute), time.Hour), running(2, "n2", t0, 30*time.Minute),
				wide(10, 4), lim(pending(11, time.Hour), 5*time.Minute), lim(pending(12, 2*time.Hour), 2*time.Hour)},
			placed:  map[uint64][]string{},
			reasons: map[uint64]job.Reason{10: job.ReasonResources, 11: job.ReasonPriority, 12: job.ReasonPriority},
			reserve: map[uint64]time.Time{},
		},
		{
			// Boot counts: 25m of work after a 10m boot ends at +35m, past +30m.
			name: "boot time pushes a job past the reservation",
			nodes: []*node.Node{noBoot(busy("n1", 1)), noBoot(busy("n2", 2)),
				with(idle("n3"), func(n *node.Node) { n.ExpectedBoot = 10 * time.Minute }),
				with(idle("n4"), func(n *node.Node) { n.ExpectedBoot = 10 * time.Minute })},
			jobs: []*job.Job{running(1, "n1", t0, 10*time.Minute), running(2, "n2", t0, 30*time.Minute),
				wide(10, 4), lim(pending(11, time.Hour), 25*time.Minute), lim(pending(12, time.Hour), 20*time.Minute)},
			backfill: true,
			placed:   map[uint64][]string{12: {"n3"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources, 11: job.ReasonPriority},
			reserve:  map[uint64]time.Time{10: t0.Add(30 * time.Minute)},
		},
		{
			// ExpectedEnd overrides start + limit: n2 frees at +5m, so the
			// 3-node job 10 is promised +5m; n1 and n5 (both +10m, -limit
			// irrelevant) are not needed. Free now: n3, n4. Need one more:
			// the earliest is n2 at +5m, so nothing ends by then but n2 itself
			// and extra = 2 + 1 - 3 = 0.
			name: "expected end from the controller",
			nodes: []*node.Node{noBoot(busy("n1", 1)), noBoot(busy("n2", 2)), noBoot(idle("n3")), noBoot(idle("n4")),
				noBoot(busy("n5", 5))},
			jobs: []*job.Job{running(1, "n1", t0, 10*time.Minute), running(2, "n2", t0, time.Hour),
				running(5, "n5", t0, 10*time.Minute),
				wide(10, 3), lim(pending(11, time.Hour), 6*time.Minute), lim(pending(12, time.Hour), 5*time.Minute)},
			end:      map[uint64]time.Time{2: t0.Add(5 * time.Minute)},
			backfill: true,
			placed:   map[uint64][]string{12: {"n3"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources, 11: job.ReasonPriority},
			reserve:  map[uint64]time.Time{10: t0.Add(5 * time.Minute)},
		},
		{
			// Job 10 needs 3 nodes; n3, n4 are free and n1, n5 both free at
			// +10m, so at +10m four nodes are free for three: one spare. The
			// first long job may take it, the second may not.
			name: "spare node lets one long job through",
			nodes: []*node.Node{noBoot(busy("n1", 1)), noBoot(busy("n2", 2)), noBoot(idle("n3")), noBoot(idle("n4")),
				noBoot(busy("n5", 5))},
			jobs: []*job.Job{running(1, "n1", t0, 10*time.Minute), running(2, "n2", t0, 30*time.Minute),
				running(5, "n5", t0, 10*time.Minute),
				wide(10, 3), lim(pending(11, 2*time.Hour), 2*time.Hour), lim(pending(12, time.Hour), 2*time.Hour)},
			backfill: true,
			placed:   map[uint64][]string{11: {"n3"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources, 12: job.ReasonPriority},
			reserve:  map[uint64]time.Time{10: t0.Add(10 * time.Minute)},
			why:      map[string]string{"n3": "backfill: node spare beyond job 10's reservation at 12:10:00"},
		},
		{
			// The top job wants the gpu node; the cpu node is no use to it,
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
			name: "strict priority still lets jobs use what the blocked job cannot",
			nodes: []*node.Node{with(noBoot(busy("gpu", 1)), func(n *node.Node) { n.Features = []string{"gpu"} }),
				noBoot(idle("cpu"))},
			jobs: []*job.Job{running(1, "gpu", t0, time.Hour),
				with(pending(10, 2*time.Hour), func(j *job.Job) { j.Spec.Features = []string{"gpu"} }),
				lim(pending(11, time.Hour), 10*time.Hour)},
			placed:  map[uint64][]string{11: {"cpu"}},
			reasons: map[uint64]job.Reason{10: job.ReasonResources},
			reserve: map[uint64]time.Time{},
			why:     map[string]string{"cpu": "best fit: 1/8 cores, 16 GiB spare, boot ~0s; ahead of job 10, which cannot use this node"},
		},
		{
			// The node the top job reserves was itself placed in this pass:
			// job 9 takes n1 (ends +1h), job 10 waits for it.
			name:     "reservation behind a job placed in the same pass",
			nodes:    []*node.Node{noBoot(idle("n1"))},
			jobs:     []*job.Job{pending(9, 4*time.Hour), pending(10, 3*time.Hour)},
			backfill: true,
			placed:   map[uint64][]string{9: {"n1"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources},
			reserve:  map[uint64]time.Time{10: t0.Add(time.Hour)},
		},
		{
			// A reservation on another day shows its date; times show in
			// the zone of Snapshot.Now whatever zone the controller used.
			name:  "reservation tomorrow",
			nodes: []*node.Node{noBoot(busy("n1", 1)), noBoot(idle("n2"))},
			jobs: []*job.Job{running(1, "n1", t0.In(time.FixedZone("X", 3600)), 13*time.Hour), wide(10, 2),
				lim(pending(11, time.Hour), time.Minute)},
			backfill: true,
			placed:   map[uint64][]string{11: {"n2"}},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources},
			reserve:  map[uint64]time.Time{10: t0.Add(13 * time.Hour)},
			why:      map[string]string{"n2": "backfill: ends before job 10's reservation at 2026-11-26 01:00:00"},
		},
		{
			// A job past its limit may end any moment: the reservation is now,
			// and a job of any length would delay it.
			name:     "overdue job",
			nodes:    []*node.Node{noBoot(busy("n1", 1)), noBoot(idle("n2"))},
			jobs:     []*job.Job{running(1, "n1", t0.Add(-2*time.Hour), time.Hour), wide(10, 2), lim(pending(11, time.Hour), time.Minute)},
			backfill: true,
			placed:   map[uint64][]string{},
			reasons:  map[uint64]job.Reason{10: job.ReasonResources, 11: job.ReasonPriority},
			reserve:  map[uint64]time.Time{10: t0},
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
