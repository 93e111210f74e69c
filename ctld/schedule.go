package ctld

import (
	"context"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/scheduler"
	"github.com/bmc-sched/bmc/store"
)

// snapshotLocked builds the scheduler's input. Records are immutable once
// published, so the snapshot shares pointers instead of copying jobs.
func (c *Controller) snapshotLocked(now time.Time) *scheduler.Snapshot {
	s := &scheduler.Snapshot{Now: now, Done: map[uint64]job.State{}}
	for _, j := range c.jobs {
		if j.State.Final() {
			continue
		}
		s.Jobs = append(s.Jobs, j)
		for _, d := range j.Spec.DependsOn {
			if st, ok := c.done[d.JobID]; ok {
				s.Done[d.JobID] = st
			}
		}
	}
	c.budgetSnapshotLocked(s)
	s.Nodes = make([]*node.Node, 0, len(c.names))
	for _, name := range c.names {
		rt := c.nodes[name]
		if rt.held {
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
// applies the plan in one transaction after re-checking every assignment
// against the state as it is by then.
func (c *Controller) schedulePass(ctx context.Context) {
	now := c.clk.Now()
	c.mu.RLock()
	snap := c.snapshotLocked(now)
	c.mu.RUnlock()
	snap.Prefer = c.energyPrefer(snap.Jobs) // reads the ledger: outside the lock
	waiting := 0
	for _, j := range snap.Jobs {
		if j.State.Waiting() {
			waiting++
		}
	}
	start := time.Now() // the pass's own cost is wall time, not scheduler time
	plan := scheduler.Schedule(snap, c.cfg.Scheduler)
	took := time.Since(start)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastPass = took
	c.reasons, c.priority = plan.Reasons, plan.Priority
	c.reserveLocked(plan.Assignments)
	if c.hooks.SchedPass != nil {
		c.hooks.SchedPass(took, waiting, len(plan.Assignments))
	}
	if len(plan.Assignments) == 0 || ctx.Err() != nil {
		return
	}
	type change struct {
		old, j *job.Job
		n      *node.Node
		why    string
	}
	var changes []change
	used := map[string]bool{}
	for _, a := range plan.Assignments {
		old, ok := c.jobs[a.JobID]
		rt, nok := c.nodes[a.Node]
		if !ok || !nok || old.State != job.Pending || !rt.Available() || rt.held || used[a.Node] {
			c.log.Info("assignment dropped: state changed during the pass", "job", a.JobID, "node", a.Node)
			continue
		}
		used[a.Node] = true
		j := *old
		j.State, j.Reason, j.Detail, j.Node, j.StartTime = job.Allocated, job.ReasonNone, "", a.Node, now
		j.Boot++
		n := *rt.Node
		n.State, n.Job, n.Since, n.Reason = node.Allocated, j.ID, now, ""
		changes = append(changes, change{old, &j, &n, a.Why})
	}
	err := c.st.Update(func(tx *store.Tx) error {
		for _, ch := range changes {
			if err := tx.PutJob(ch.j); err != nil {
				return err
			}
			if err := tx.PutNode(ch.n); err != nil {
				return err
			}
			if err := tx.AddEvent(ch.j.ID, job.Event{Time: now, State: job.Allocated, Node: ch.n.Name, Detail: ch.why}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.log.Error("apply scheduling plan", "err", err)
		return
	}
	for _, ch := range changes {
		c.publishLocked(ch.old, ch.j)
		c.nodes[ch.n.Name].Node = ch.n
		c.why[ch.j.ID] = ch.why
		c.log.Info("job allocated", "job", ch.j.ID, "node", ch.n.Name, "why", ch.why)
		c.startLocked(ch.j, false)
	}
}
