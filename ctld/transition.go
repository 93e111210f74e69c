package ctld

import (
	"errors"
	"fmt"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/scheduler"
	"github.com/bmc-sched/bmc/store"
)

// A step is one change of one job's state, as data: where the job goes, who
// asks, the event, what else changes on its record and on its node. Every
// state change goes through stageLocked, which checks it against
// job.Rules, and commitLocked, which writes the job, its node and the event
// in one store transaction. A step that failed to commit can be tried again
// as it is (the reconciler does), because its node effect is worked out
// against the node record at commit time.
type step struct {
	id    uint64
	to    job.State
	cause job.Cause
	ev    job.Event        // Time, State, Node and Cause are filled in
	edit  func(j *job.Job) // other fields of the record; must not touch State
	node  nodeEffect
}

// nodeEffect is what a step does to the job's node.
type nodeEffect struct {
	op     nodeOp
	reason string     // nodeDown: what bmcq nodes shows
	fault  node.Fault // nodeDown: set when the reconciler may clear it by itself
	// nodeAllocate: the node is warm from the same user's last job and is
	// taken this way (reuse.go); the node must still allow it.
	reuse scheduler.ReuseKind
	warm  *node.Warm // nodeWarm: what the machine kept on still runs
}

type nodeOp int

const (
	nodeKeep     nodeOp = iota
	nodeAllocate        // the job's (new) node becomes ALLOCATED to it
	nodeFree            // the node the job held becomes IDLE
	nodeDown            // the node the job held becomes DOWN with a reason
	nodeWarm            // the node the job held stays on: IDLE-ON (idleoff.go)
)

var freeNode = nodeEffect{op: nodeFree}

func downNode(reason string, fault node.Fault) nodeEffect {
	return nodeEffect{op: nodeDown, reason: reason, fault: fault}
}

// staged is a checked step ready to commit.
type staged struct {
	step
	old, j *job.Job
	n      *node.Node  // the node record to write, or nil
	nodeEv *node.Event // a line for the node's history, or nil
	next   *job.Job    // a recurring job's next run
	nextEv job.Event
}

// batch keeps one commit from giving a node or a job out twice.
type batch struct{ nodes, jobs map[string]bool }

func newBatch() *batch { return &batch{nodes: map[string]bool{}, jobs: map[string]bool{}} }

// commitError is a checked step the store did not take. The life cycle hands
// it to the reconciler, which commits it later.
type commitError struct {
	step step
	err  error
}

func (e *commitError) Error() string {
	return fmt.Sprintf("job %d → %s: %v", e.step.id, e.step.to, e.err)
}

func (e *commitError) Unwrap() error { return e.err }

// stageLocked checks s against the transition table and the node it
// touches, and builds the records to write. It changes nothing. b may be nil.
func (c *Controller) stageLocked(s step, b *batch) (*staged, error) {
	old, ok := c.jobs[s.id]
	if !ok {
		return nil, fmt.Errorf("job %d: %w", s.id, ErrNotFound)
	}
	if err := job.CheckTransition(old.State, s.to, s.cause); err != nil {
		var te *job.TransitionError
		if errors.As(err, &te) {
			te.Job = s.id
		}
		return nil, err
	}
	if b != nil {
		key := fmt.Sprint(s.id)
		if b.jobs[key] {
			return nil, fmt.Errorf("job %d: changed twice in one commit: %w", s.id, ErrConflict)
		}
		b.jobs[key] = true
	}
	now := c.clk.Now()
	j := *old
	if s.edit != nil {
		s.edit(&j)
	}
	j.State = s.to
	if s.to.Active() && j.Node == "" {
		return nil, fmt.Errorf("job %d → %s without a node: %w", s.id, s.to, ErrInvalid)
	}
	st := &staged{step: s, old: old, j: &j}
	st.ev.State, st.ev.Cause = s.to, s.cause
	if st.ev.Time.IsZero() {
		st.ev.Time = now
	}
	if st.ev.Node == "" {
		st.ev.Node = j.Node
		if st.ev.Node == "" {
			st.ev.Node = old.Node
		}
	}
	switch s.node.op {
	case nodeAllocate:
		rt, ok := c.nodes[j.Node]
		if !ok {
			return nil, fmt.Errorf("job %d: node %s: %w", s.id, j.Node, ErrNotFound)
		}
		free := rt.Available()
		if s.node.reuse != "" {
			free = rt.warm != nil && scheduler.ReuseOf(rt.Node, &j) == s.node.reuse
		}
		if !free || rt.rec.reserved() || (b != nil && b.nodes[j.Node]) {
			return nil, fmt.Errorf("job %d: node %s is %s: %w", s.id, j.Node, rt.DisplayState(), ErrConflict)
		}
		if b != nil {
			b.nodes[j.Node] = true
		}
		n := *rt.Node
		n.State, n.Job, n.Since, n.Reason, n.Fault, n.Warm = node.Allocated, s.id, now, "", "", nil
		n.WarmUntil, n.WarmUser = time.Time{}, ""
		st.n = &n
	case nodeFree, nodeDown, nodeWarm:
		// Only the node this job holds: a step retried late must not
		// free a node that went on to another job.
		if rt, ok := c.nodes[old.Node]; ok && rt.Job == s.id {
			n := *rt.Node
			n.Job, n.Since, n.Warm = 0, now, nil
			switch s.node.op {
			case nodeDown:
				n.State, n.Reason, n.Fault = node.Down, s.node.reason, s.node.fault
				st.nodeEv = &node.Event{Time: now, Action: "node_down", State: node.Down, Job: s.id, Detail: s.node.reason}
			case nodeWarm:
				st.nodeEv = c.warmNodeLocked(&n, j.User, now)
				st.nodeEv.Job = s.id
				if n.Warm = s.node.warm; n.Warm != nil {
					st.nodeEv.Detail = joinDetail(st.nodeEv.Detail, fmt.Sprintf("its system kept for a reuse by the same user's next job; unbilled until a job starts (%s)", accounting.ReasonReuseGap))
				}
			default:
				n.State = node.Idle
			}
			st.n = &n
		}
	}
	var err error
	if st.next, st.nextEv, err = c.successor(old, &j); err != nil {
		// The series cannot go on; the run itself still ends, saying why.
		st.ev.Detail = joinDetail(st.ev.Detail, err.Error())
	}
	return st, nil
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// commitLocked writes the staged steps in one store transaction, then
// publishes them. Nothing changes in memory when the commit fails.
func (c *Controller) commitLocked(steps []*staged) ([]*job.Job, error) {
	if len(steps) == 0 {
		return nil, nil
	}
	billed := make([][]billedEntry, len(steps))
	err := c.st.Update(func(tx *store.Tx) error {
		for i, s := range steps {
			old, j, ev := s.old, s.j, s.ev
			if s.next != nil {
				if err := tx.NewJob(s.next, s.nextEv); err != nil {
					return err
				}
			}
			if err := tx.PutJob(j); err != nil {
				return err
			}
			if s.n != nil {
				if err := tx.PutNode(s.n); err != nil {
					return err
				}
			}
			if s.nodeEv != nil {
				if err := tx.AddNodeEvent(s.n.Name, *s.nodeEv); err != nil {
					return err
				}
			}
			if err := tx.AddEvent(j.ID, ev); err != nil {
				return err
			}
			var err error
			billed[i], err = c.billTx(tx, old, j, ev, s.node.op == nodeDown)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if len(steps) == 1 {
			return nil, &commitError{step: steps[0].step, err: err}
		}
		return nil, err
	}
	out := make([]*job.Job, len(steps))
	for i, s := range steps {
		c.publishLocked(s.old, s.j)
		if s.n != nil {
			c.nodes[s.n.Name].Node = s.n
			if s.n.Fault != "" {
				c.nodes[s.n.Name].rec.faulted(c.clk.Now().Add(c.cfg.Reconcile.Interval))
			}
		}
		c.energyAfterLocked(s.old, s.j, billed[i], s.ev.Time)
		if s.next != nil {
			c.publishLocked(nil, s.next)
			c.log.Info("recurring job: next run queued", "job", s.j.ID, "next", s.next.ID, "begin", s.next.Spec.Begin)
		}
		c.log.Info("job state", "job", s.j.ID, "from", s.old.State, "to", s.j.State, "cause", s.cause,
			"reason", s.ev.Reason, "node", s.ev.Node, "detail", s.ev.Detail)
		if s.nodeEv != nil && s.n.State == node.Down {
			c.log.Warn("node down", "node", s.n.Name, "job", s.j.ID, "reason", s.n.Reason, "fault", s.n.Fault)
		}
		out[i] = s.j
	}
	return out, nil
}

// transitionLocked stages and commits one step. It must be called with c.mu
// held for writing. A refused step is a *job.TransitionError; a step the
// store did not take is a *commitError.
func (c *Controller) transitionLocked(s step) (*job.Job, error) {
	st, err := c.stageLocked(s, nil)
	if err != nil {
		return nil, err
	}
	js, err := c.commitLocked([]*staged{st})
	if err != nil {
		return nil, err
	}
	return js[0], nil
}

func (c *Controller) transition(s step) (*job.Job, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transitionLocked(s)
}

// publishLocked swaps in a committed job record and wakes its waiters.
func (c *Controller) publishLocked(old, j *job.Job) {
	if old != nil {
		c.countLocked(old, -1)
	}
	c.countLocked(j, 1)
	c.jobs[j.ID] = j
	if c.pidx.publish(old, j) {
		c.Wake() // parked jobs' dependencies may be met now
	}
	if j.State.Final() {
		c.done[j.ID] = j.State
	} else {
		delete(c.done, j.ID)
	}
	if lc := c.running[j.ID]; lc != nil {
		lc.tries = 0 // the life cycle moves again
	}
	if !j.State.Active() {
		delete(c.stalls, j.ID)
	}
	if old != nil && old.State != j.State && c.hooks.JobState != nil {
		c.hooks.JobState(old.State, j.State)
	}
	for _, ch := range c.waiters[j.ID] {
		close(ch)
	}
	delete(c.waiters, j.ID)
}

// ownerCause is the cause an owner's or an admin's action records.
func ownerCause(who Identity, j *job.Job) job.Cause {
	if who.Admin && who.UID != j.UID {
		return job.CauseAdmin
	}
	return job.CauseUser
}

// resetForQueue clears what a job's last run left on its record.
func resetForQueue(j *job.Job) {
	j.Node, j.Outcome, j.ExitCode, j.HostKey, j.SSHAddr = "", "", 0, "", ""
	j.StartTime, j.RunTime, j.EndTime = time.Time{}, time.Time{}, time.Time{}
}
