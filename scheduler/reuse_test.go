package scheduler

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// warm returns a node kept on after job 90 of uid 1000 (kernel k1, image img).
func warm(name string, kexec bool) *node.Node {
	n := idle(name)
	n.State, n.Kexec = node.IdleOn, kexec
	n.Warm = &node.Warm{Job: 90, UID: 1000, Kernel: "k1", Image: "img"}
	return n
}

// same returns a pending job of uid 1000 that matches warm's boot.
func same(id uint64, age time.Duration) *job.Job {
	return with(pending(id, age), func(j *job.Job) { j.UID, j.Spec.Kernel, j.Spec.Image = 1000, "k1", "img" })
}

func TestReuse(t *testing.T) {
	tests := []struct {
		name  string
		nodes []*node.Node
		jobs  []*job.Job
		want  map[uint64]ReuseKind // job → how it took the warm node w
		cold  map[uint64]string    // job → the cold node it got
		cool  []string
	}{
		{
			name:  "same user, kernel and image: reset, ahead of the cold node",
			nodes: []*node.Node{idle("a"), warm("w", false)},
			jobs:  []*job.Job{same(1, time.Minute)},
			want:  map[uint64]ReuseKind{1: ReuseReset},
		},
		{
			name:  "another user never takes a warm node; it is cooled",
			nodes: []*node.Node{warm("w", true)},
			jobs:  []*job.Job{with(same(1, time.Minute), func(j *job.Job) { j.UID = 1001 })},
			cool:  []string{"w"},
		},
		{
			name:  "reuse = false forces a power cycle",
			nodes: []*node.Node{idle("a"), warm("w", true)},
			jobs:  []*job.Job{with(same(1, time.Minute), func(j *job.Job) { j.Spec.NoReuse = true })},
			cold:  map[uint64]string{1: "a"},
			cool:  []string{"w"},
		},
		{
			name:  "another kernel: kexec where the node allows it",
			nodes: []*node.Node{warm("w", true)},
			jobs:  []*job.Job{with(same(1, time.Minute), func(j *job.Job) { j.Spec.Kernel = "k2" })},
			want:  map[uint64]ReuseKind{1: ReuseKexec},
		},
		{
			name:  "another command line without kexec: cold node",
			nodes: []*node.Node{idle("a"), warm("w", false)},
			jobs:  []*job.Job{with(same(1, time.Minute), func(j *job.Job) { j.Spec.Cmdline = "quiet" })},
			cold:  map[uint64]string{1: "a"},
			cool:  []string{"w"},
		},
		{
			name:  "a higher-priority job of another user waits: no reuse behind it",
			nodes: []*node.Node{warm("w", false)},
			jobs:  []*job.Job{with(pending(1, time.Hour), func(j *job.Job) { j.UID = 1001 }), same(2, time.Minute)},
			cool:  []string{"w"},
		},
		{
			name:  "one warm node, two matching jobs: the older one",
			nodes: []*node.Node{warm("w", false)},
			jobs:  []*job.Job{same(2, time.Minute), same(1, time.Hour)},
			want:  map[uint64]ReuseKind{1: ReuseReset},
		},
		{
			name:  "a drained warm node is never reused",
			nodes: []*node.Node{with(warm("w", false), func(n *node.Node) { n.Drain = true })},
			jobs:  []*job.Job{same(1, time.Minute)},
			cool:  []string{"w"},
		},
	}
	for _, tc := range tests {
		for _, backfill := range []bool{true, false} {
			t.Run(tc.name, func(t *testing.T) {
				p := Schedule(&Snapshot{Now: t0, Nodes: tc.nodes, Jobs: tc.jobs}, testCfg(backfill))
				got, cold := map[uint64]ReuseKind{}, map[uint64]string{}
				for _, a := range p.Assignments {
					if a.Reuse != "" {
						if a.Node != "w" {
							t.Errorf("job %d reuses %s, not the warm node", a.JobID, a.Node)
						}
						got[a.JobID] = a.Reuse
					} else {
						if a.Node == "w" {
							t.Errorf("job %d placed on the warm node without a reuse", a.JobID)
						}
						cold[a.JobID] = a.Node
					}
				}
				if !maps.Equal(got, tc.want) && (len(got) > 0 || len(tc.want) > 0) {
					t.Errorf("reuses %v, want %v", got, tc.want)
				}
				if !maps.Equal(cold, tc.cold) && (len(cold) > 0 || len(tc.cold) > 0) {
					t.Errorf("cold placements %v, want %v", cold, tc.cold)
				}
				if !slices.Equal(p.Cool, tc.cool) {
					t.Errorf("cool %v, want %v", p.Cool, tc.cool)
				}
			})
		}
	}
}
