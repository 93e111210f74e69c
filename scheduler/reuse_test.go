package scheduler

import (
	"maps"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// warm returns a node kept on after job 90 of uid 1000 (kernel k1, image img).
func warm(name string, kexec bool) *node.Node {
	n := idle(name)
	n.State, n.Kexec, n.WarmUser = node.IdleOn, kexec, "alice"
	n.Warm = &node.Warm{Job: 90, UID: 1000, Kernel: "k1", Image: "img"}
	return n
}

// same returns a pending job of uid 1000 that matches warm's boot.
func same(id uint64, age time.Duration) *job.Job {
	return with(pending(id, age), func(j *job.Job) { j.UID, j.Spec.Kernel, j.Spec.Image = 1000, "k1", "img" })
}

func TestReuse(t *testing.T) {
	bob := func(j *job.Job) { j.UID, j.User = 1001, "bob" }
	tests := []struct {
		name  string
		nodes []*node.Node
		jobs  []*job.Job
		reuse map[uint64]ReuseKind // job → how it took the warm node w
		plain map[uint64]string    // job → the node it got with a power cycle
	}{
		{
			name:  "same user, kernel and image: reset, ahead of the cold node",
			nodes: []*node.Node{idle("a"), warm("w", false)},
			jobs:  []*job.Job{same(1, time.Minute)},
			reuse: map[uint64]ReuseKind{1: ReuseReset},
		},
		{
			name:  "another user gets the warm node only through a power cycle",
			nodes: []*node.Node{warm("w", true)},
			jobs:  []*job.Job{with(same(1, time.Minute), bob)},
			plain: map[uint64]string{1: "w"},
		},
		{
			name:  "another user takes the cold node first",
			nodes: []*node.Node{idle("a"), warm("w", true)},
			jobs:  []*job.Job{with(same(1, time.Minute), bob)},
			plain: map[uint64]string{1: "a"},
		},
		{
			name:  "reuse = false forces a power cycle",
			nodes: []*node.Node{warm("w", true)},
			jobs:  []*job.Job{with(same(1, time.Minute), func(j *job.Job) { j.Spec.NoReuse = true })},
			plain: map[uint64]string{1: "w"},
		},
		{
			name:  "another kernel: kexec where the node allows it",
			nodes: []*node.Node{warm("w", true)},
			jobs:  []*job.Job{with(same(1, time.Minute), func(j *job.Job) { j.Spec.Kernel = "k2" })},
			reuse: map[uint64]ReuseKind{1: ReuseKexec},
		},
		{
			name:  "another command line without kexec: a power cycle",
			nodes: []*node.Node{warm("w", false)},
			jobs:  []*job.Job{with(same(1, time.Minute), func(j *job.Job) { j.Spec.Cmdline = "quiet" })},
			plain: map[uint64]string{1: "w"},
		},
		{
			name:  "a higher-priority job of another user goes first, with a power cycle",
			nodes: []*node.Node{warm("w", false)},
			jobs:  []*job.Job{with(pending(1, time.Hour), bob), same(2, time.Minute)},
			plain: map[uint64]string{1: "w"},
		},
		{
			name:  "of two warm nodes of the user, the one it can reset",
			nodes: []*node.Node{with(warm("v", false), func(n *node.Node) { n.Warm.Image = "other" }), warm("w", false)},
			jobs:  []*job.Job{same(1, time.Minute)},
			reuse: map[uint64]ReuseKind{1: ReuseReset},
		},
		{
			name:  "one warm node, two matching jobs: the older one",
			nodes: []*node.Node{warm("w", false)},
			jobs:  []*job.Job{same(2, time.Minute), same(1, time.Hour)},
			reuse: map[uint64]ReuseKind{1: ReuseReset},
		},
		{
			name:  "a drained warm node is never reused",
			nodes: []*node.Node{with(warm("w", false), func(n *node.Node) { n.Drain = true })},
			jobs:  []*job.Job{same(1, time.Minute)},
		},
	}
	for _, tc := range tests {
		for _, backfill := range []bool{true, false} {
			t.Run(tc.name, func(t *testing.T) {
				p := Schedule(&Snapshot{Now: t0, Nodes: tc.nodes, Jobs: tc.jobs}, testCfg(backfill))
				reuse, plain := map[uint64]ReuseKind{}, map[uint64]string{}
				for _, a := range p.Assignments {
					if a.Reuse != "" {
						if a.Node != "w" {
							t.Errorf("job %d reuses %s, not the warm node w", a.JobID, a.Node)
						}
						reuse[a.JobID] = a.Reuse
					} else {
						plain[a.JobID] = a.Node
					}
				}
				if len(reuse)+len(tc.reuse) > 0 && !maps.Equal(reuse, tc.reuse) {
					t.Errorf("reuses %v, want %v", reuse, tc.reuse)
				}
				if len(plain)+len(tc.plain) > 0 && !maps.Equal(plain, tc.plain) {
					t.Errorf("power-cycled placements %v, want %v", plain, tc.plain)
				}
			})
		}
	}
}
