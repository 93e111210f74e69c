package scheduler

import (
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

const gib = 1 << 30

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// testCfg is DefaultConfig with backfill as asked.
func testCfg(backfill bool) Config {
	c := DefaultConfig()
	c.Backfill = backfill
	return c
}

// idle returns an available x86_64 node with 8 cores and 16 GiB.
func idle(name string) *node.Node {
	return &node.Node{Config: node.Config{Name: name, Arch: "x86_64", Cores: 8, Memory: 16 * gib,
		ExpectedBoot: 15 * time.Second}, State: node.Idle}
}

// busy returns a node allocated to job id.
func busy(name string, id uint64) *node.Node {
	n := idle(name)
	n.State, n.Job = node.Allocated, id
	return n
}

// pending returns a one-node, one-core job submitted age before t0.
func pending(id uint64, age time.Duration) *job.Job {
	return &job.Job{ID: id, ArrayTaskID: -1, User: "alice", State: job.Pending,
		SubmitTime: t0.Add(-age), Spec: &job.Spec{Name: "j", Cores: 1, Nodes: 1,
			TimeLimit: job.Duration(time.Hour)}}
}

// running returns a job that started on n at start with the given limit.
func running(id uint64, n string, start time.Time, limit time.Duration) *job.Job {
	j := pending(id, 2*time.Hour)
	j.State, j.Node, j.StartTime = job.Running, n, start
	j.Spec.TimeLimit = job.Duration(limit)
	return j
}

func with[T any](v T, f func(T)) T { f(v); return v }

// placed maps job id to its nodes in assignment order.
func placed(p Plan) map[uint64][]string {
	m := map[uint64][]string{}
	for _, a := range p.Assignments {
		m[a.JobID] = append(m[a.JobID], a.Node)
	}
	return m
}
