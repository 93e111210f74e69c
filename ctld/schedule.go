package ctld

import (
	"context"
	"fmt"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/scheduler"
)

// snapshotLocked builds the scheduler's input. Records are immutable once
// published, so the snapshot shares pointers instead of copying jobs. The
// jobs are the pass index's (passindex.go): held jobs and parked ones are
// left out unless a dependency needs them.
func (c *Controller) snapshotLocked(now time.Time) *scheduler.Snapshot {
	s := &scheduler.Snapshot{Now: now, Done: map[uint64]job.State{}, Jobs: c.pidx.jobs(c.byArray)}
	for _, j := range s.Jobs {
		for _, d := range j.Spec.DependsOn {
			if st, ok := c.done[d.JobID]; ok {
				s.Done[d.JobID] = st
			}
		}
	}
	c.budgetSnapshotLocked(s)
	c.limitSnapshotLocked(s)
	s.Nodes = make([]*node.Node, 0, len(c.names))
	for _, name := range c.names {
		rt := c.nodes[name]
		if rt.rec.reserved() {
			n := *rt.Node
			n.Drain = true // shown to the scheduler as not available, nothing else
			s.Nodes = append(s.Nodes, &n)
			continue
		}
		s.Nodes = append(s.Nodes, rt.Node)
	}
	return s
}

// schedulePass runs the scheduler on a snapshot outside the lock, then
// applies the plan: every assignment is staged through the same checked
// transition as any other change (the job must still be PENDING, its node
// still free), those that no longer hold are dropped, and the rest commit in
// one transaction. An error means nothing was applied. own is the pass's own
// run time, without its waits for the lock (passTimer).
func (c *Controller) schedulePass(ctx context.Context) (own time.Duration, err error) {
	pt := startPassTimer(c.clk)
	defer func() { own = pt.own() }()
	now := c.clk.Now()
	pt.lock(c.mu.RLocker())
	snap := c.snapshotLocked(now)
	gen := c.pidx.gen
	c.mu.RUnlock()
	prefer, err := c.energyPrefer(snap.Jobs) // reads the ledger: outside the lock
	if err != nil {
		return 0, err
	}
	snap.Prefer = prefer
	waiting := 0
	for _, j := range snap.Jobs {
		if j.State.Waiting() {
			waiting++
		}
	}
	start := time.Now() // the scheduler's own cost, for the metric
	plan := scheduler.Schedule(snap, c.cfg.Scheduler)
	took := time.Since(start)

	pt.lock(&c.mu)
	defer c.mu.Unlock()
	c.lastPass = took
	c.reasons, c.priority = plan.Reasons, plan.Priority
	for _, j := range snap.Jobs {
		if plan.Reasons[j.ID] == job.ReasonDependency {
			c.pidx.park(j, plan.Priority[j.ID], gen)
		}
	}
	c.reserveLocked(plan.Assignments)
	if c.hooks.SchedPass != nil {
		c.hooks.SchedPass(took, waiting, len(plan.Assignments))
	}
	if len(plan.Assignments) == 0 || ctx.Err() != nil {
		return 0, nil
	}
	b := newBatch()
	var steps []*staged
	for _, a := range plan.Assignments {
		st, err := c.stageLocked(step{
			id: a.JobID, to: job.Allocated, cause: job.CauseScheduler,
			ev: job.Event{Time: now, Node: a.Node, Detail: a.Why},
			edit: func(j *job.Job) {
				j.Reason, j.Detail, j.Node, j.StartTime = job.ReasonNone, "", a.Node, now
				j.Boot++
			},
			node: nodeEffect{op: nodeAllocate, reuse: a.Reuse},
		}, b)
		if err != nil {
			c.log.Info("assignment dropped: state changed during the pass", "job", a.JobID, "node", a.Node, "reason", err)
			continue
		}
		steps = append(steps, st)
	}
	jobs, err := c.commitLocked(steps)
	if err != nil {
		return 0, fmt.Errorf("apply scheduling plan: %w", err)
	}
	for i, j := range jobs {
		c.why[j.ID] = steps[i].ev.Detail
		c.handOnLocked(j, steps[i].node.reuse)
		c.startLocked(j, "")
	}
	return 0, nil
}
