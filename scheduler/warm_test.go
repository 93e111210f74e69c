package scheduler

import (
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// TestWarmFirst: a job takes a warm machine its user's last job left on,
// else a cold one, and a warm machine of another user only when nothing
// else is free.
func TestWarmFirst(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(name string, st node.State, user string) *node.Node {
		return &node.Node{Config: node.Config{Name: name, Arch: "x86_64", Cores: 4, Memory: gib}, State: st, WarmUser: user}
	}
	pending := func(id uint64, user string) *job.Job {
		return &job.Job{ID: id, ArrayTaskID: -1, User: user, State: job.Pending, SubmitTime: now.Add(time.Duration(id) * time.Second),
			Spec: job.Spec{Cores: 1, Nodes: 1}}
	}
	for _, tc := range []struct {
		name  string
		nodes []*node.Node
		jobs  []*job.Job
		want  map[uint64]string
	}{
		{"own warm machine first", []*node.Node{mk("a", node.Idle, ""), mk("b", node.IdleOn, "bob"), mk("c", node.IdleOn, "ann")},
			[]*job.Job{pending(1, "ann")}, map[uint64]string{1: "c"}},
		{"cold before another user's warm", []*node.Node{mk("a", node.IdleOn, "bob"), mk("b", node.Idle, "")},
			[]*job.Job{pending(1, "ann")}, map[uint64]string{1: "b"}},
		{"another user's warm when nothing else", []*node.Node{mk("a", node.IdleOn, "bob"), mk("b", node.Idle, "")},
			[]*job.Job{pending(1, "ann"), pending(2, "cid")}, map[uint64]string{1: "b", 2: "a"}},
		{"each user their own", []*node.Node{mk("a", node.IdleOn, "bob"), mk("b", node.IdleOn, "ann"), mk("c", node.Idle, "")},
			[]*job.Job{pending(1, "ann"), pending(2, "bob"), pending(3, "cid")}, map[uint64]string{1: "b", 2: "a", 3: "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Schedule(&Snapshot{Now: now.Add(time.Hour), Jobs: tc.jobs, Nodes: tc.nodes}, testCfg(true))
			got := map[uint64]string{}
			for _, a := range p.Assignments {
				got[a.JobID] = a.Node
			}
			for id, want := range tc.want {
				if got[id] != want {
					t.Errorf("job %d on %q, want %q (all: %v)", id, got[id], want, got)
				}
			}
		})
	}
}
