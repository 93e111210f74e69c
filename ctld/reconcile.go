package ctld

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/store"
)

// The reconciler is one loop that runs as long as the controller does. Each
// pass compares what every job and node should be with what is observed, and
// acts on the difference:
//
//   - a job whose life cycle stopped short (a change that did not commit)
//     has that change committed again, then its life cycle restarted from
//     the recorded state, with backoff; at start-up this is the recovery of
//     every job that held a node;
//   - a running job whose node agent has been silent for AgentTimeout (one
//     heard from since the controller started) is stopped: its machine is
//     switched off and the job ends NODE_FAIL;
//   - a machine without a job should be off, unless a job left it on
//     (IDLE-ON, idleoff.go): an IDLE-ON machine is switched off at its
//     deadline or once no waiting job fits it; the BMC of any other is
//     asked every PowerSync, and one found on is held from the scheduler
//     and switched off after IdleOffGrace; a power-off that failed is retried with backoff
//     until it holds, the node DOWN with the reason meanwhile; a BMC that
//     does not answer puts the node DOWN and is asked again with backoff.
//
// Every action is a node event (bmcq node show), or the job's own event, and
// one count of bmc_reconciler_actions_total{action}.

// ReconcileConfig tunes the reconciler.
type ReconcileConfig struct {
	// Interval is how often a pass runs; it is also the first retry's wait.
	Interval time.Duration
	// IdleOff says whether a machine stays on after its job (idleoff.go).
	IdleOff IdleOffPolicy
	// IdleOffGrace is how long a machine found on that no job left on is
	// held before it is switched off, and the break-even of a kind with
	// no figures (idleoff.go).
	IdleOffGrace time.Duration
	// PowerSync is how often the BMC of a machine without a job is asked
	// for its power state.
	PowerSync time.Duration
	// AgentTimeout is how long a running job's node agent may be silent
	// (no heartbeat) before the job is NODE_FAIL; 0 turns the check off.
	AgentTimeout time.Duration
	// RetryMax caps the doubling wait between retries.
	RetryMax time.Duration
	// CallTimeout bounds one BMC call of the reconciler.
	CallTimeout time.Duration
}

// DefaultReconcileConfig is what bmcctld uses when flags say nothing.
func DefaultReconcileConfig() ReconcileConfig {
	return ReconcileConfig{Interval: 5 * time.Second, IdleOff: IdleOffBreakeven, IdleOffGrace: time.Minute, PowerSync: time.Minute,
		AgentTimeout: time.Minute, RetryMax: 5 * time.Minute, CallTimeout: 30 * time.Second}
}

// Validate says which setting cannot work.
func (r ReconcileConfig) Validate() error {
	switch {
	case r.Interval <= 0:
		return fmt.Errorf("reconcile interval %s: must be positive", r.Interval)
	case r.PowerSync <= 0:
		return fmt.Errorf("power sync interval %s: must be positive", r.PowerSync)
	case r.IdleOff != IdleOffImmediate && r.IdleOff != IdleOffBreakeven && r.IdleOff != IdleOffNever:
		return fmt.Errorf("idle-off policy %q: must be immediate, breakeven or never", r.IdleOff)
	case r.IdleOffGrace < 0:
		return fmt.Errorf("idle-off grace %s: must not be negative", r.IdleOffGrace)
	case r.AgentTimeout < 0 || (r.AgentTimeout > 0 && r.AgentTimeout < MinAgentTimeout):
		return fmt.Errorf("agent timeout %s: must be 0 (off) or at least %s, three heartbeats", r.AgentTimeout, MinAgentTimeout)
	case r.RetryMax < r.Interval:
		return fmt.Errorf("retry max %s: must not be below the reconcile interval %s", r.RetryMax, r.Interval)
	case r.CallTimeout <= 0:
		return fmt.Errorf("BMC call timeout %s: must be positive", r.CallTimeout)
	}
	return nil
}

// MinAgentTimeout is three of the heartbeats bmcctld asks node agents for:
// one late heartbeat must not fail a job.
const MinAgentTimeout = 3 * AgentHeartbeat

// AgentHeartbeat is how often node agents report in (boot.Config.HeartbeatInterval).
const AgentHeartbeat = 5 * time.Second

// backoff is the wait before retry number tries (1, 2, …): Interval, then
// doubling up to RetryMax.
func (r ReconcileConfig) backoff(tries int) time.Duration {
	d := r.Interval
	for i := 1; i < tries && d < r.RetryMax; i++ {
		d *= 2
	}
	return min(d, max(r.RetryMax, r.Interval))
}

// The reconciler's actions: each is the label of
// bmc_reconciler_actions_total and the Action of the node event it records.
const (
	ActIdleOff       = "idle_off"         // switched off a machine that was on with no job
	ActPowerOffRetry = "power_off_retry"  // tried a failed power-off again
	ActNodeDown      = "node_down"        // put a node DOWN: its BMC does not answer
	ActNodeUp        = "node_up"          // returned a node to service: its fault cleared
	ActAgentLost     = "agent_lost"       // stopped a job whose node agent went silent
	ActRetryCommit   = "retry_transition" // committed again a change that had failed to
	ActRecoverJob    = "recover_job"      // restarted a job's life cycle from its record
	ActNodeFail      = "node_fail"        // ended a job whose node is no longer configured
)

// ReconcilerActions lists every action, for metrics created up front.
var ReconcilerActions = []string{ActIdleOff, ActPowerOffRetry, ActNodeDown, ActNodeUp,
	ActAgentLost, ActRetryCommit, ActRecoverJob, ActNodeFail}

// stall is a job whose life cycle stopped before the job left its node.
type stall struct {
	step  *step // the change that did not commit, or nil
	err   error
	tries int
	next  time.Time
}

// stallLocked hands a job whose life cycle stopped short to the reconciler.
func (c *Controller) stallLocked(id uint64, tries int, err error) {
	s := &stall{err: err, tries: tries, next: c.clk.Now().Add(c.cfg.Reconcile.backoff(tries))}
	var ce *commitError
	if errors.As(err, &ce) {
		st := ce.step
		s.step = &st
	}
	c.stalls[id] = s
	c.log.Warn("life cycle stopped short; the reconciler takes over", "job", id, "state", c.jobs[id].State,
		"node", c.jobs[id].Node, "tries", tries, "retry_at", s.next, "err", err)
}

// reconcile runs passes until ctx ends.
func (c *Controller) reconcile(ctx context.Context) {
	for range probeWorkers {
		c.runGroup.Add(1)
		go func() {
			defer c.runGroup.Done()
			c.probeWorker(ctx)
		}()
	}
	for {
		c.refreshKindEnergy()
		c.mu.Lock()
		c.reconcileJobsLocked(job.CauseReconciler)
		c.storeSecurityLocked()
		c.checkAgentsLocked()
		c.queueProbesLocked()
		c.mu.Unlock()
		c.sweepSamples()
		select {
		case <-ctx.Done():
			return
		case <-c.clk.After(c.cfg.Reconcile.Interval):
		}
	}
}

// reconcileJobsLocked retries stalled jobs and restarts the life cycle of
// every job on a node that has none. by is the cause the restarts record:
// CauseRecovery for the pass at start-up, CauseReconciler afterwards.
func (c *Controller) reconcileJobsLocked(by job.Cause) {
	var acts actions
	defer c.recordLocked(&acts)
	now := c.clk.Now()
	ids := make([]uint64, 0, len(c.stalls))
	for id := range c.stalls {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	for _, id := range ids {
		s := c.stalls[id]
		if now.Before(s.next) {
			continue
		}
		if s.step != nil && !c.retryStepLocked(id, s, now) {
			continue
		}
		if j := c.jobs[id]; j.State.Active() {
			c.recoverJobLocked(&acts, j, by, s.err)
		}
		delete(c.stalls, id)
	}
	// Jobs on a node with no life cycle: every one at start-up; later only
	// a job whose life cycle ended without saying why (a bug) shows here.
	var orphans []uint64
	if by == job.CauseRecovery {
		for id, j := range c.jobs {
			if j.State.Active() {
				orphans = append(orphans, id)
			}
		}
	} else {
		for _, name := range c.names {
			if id := c.nodes[name].Job; id != 0 {
				orphans = append(orphans, id)
			}
		}
	}
	sort.Slice(orphans, func(a, b int) bool { return orphans[a] < orphans[b] })
	for _, id := range orphans {
		j := c.jobs[id]
		if _, ok := c.running[id]; ok || !j.State.Active() {
			continue
		}
		if _, ok := c.stalls[id]; ok {
			continue
		}
		if _, ok := c.nodes[j.Node]; !ok {
			c.nodeGoneLocked(j, by)
			continue
		}
		c.recoverJobLocked(&acts, j, by, nil)
	}
}

// retryStepLocked commits a stalled change again. It reports whether the
// job's life cycle may be restarted now (false: try again later).
func (c *Controller) retryStepLocked(id uint64, s *stall, now time.Time) bool {
	st := *s.step
	st.ev.Detail = joinDetail(st.ev.Detail, fmt.Sprintf("committed by the reconciler after: %v", s.err))
	_, err := c.transitionLocked(st)
	var ce *commitError
	switch {
	case err == nil:
		c.countAction(ActRetryCommit)
		c.log.Info("reconciler: committed a stalled change", "job", id, "to", st.to, "cause", st.cause, "tries", s.tries)
		s.step = nil
		return true
	case errors.As(err, &ce):
		c.countAction(ActRetryCommit)
		s.tries++
		s.err, s.next = err, now.Add(c.cfg.Reconcile.backoff(s.tries))
		c.log.Warn("reconciler: change still does not commit", "job", id, "to", st.to, "tries", s.tries, "retry_at", s.next, "err", err)
		return false
	}
	// The job moved on since (or the change is refused): its record is
	// the truth, and its life cycle restarts from there.
	c.log.Warn("reconciler: stalled change no longer applies; recovering the job from its record", "job", id,
		"to", st.to, "state", c.jobs[id].State, "reason", err)
	s.step = nil
	return true
}

// recoverJobLocked restarts the life cycle of an active job that has none,
// noting why for its node's events.
func (c *Controller) recoverJobLocked(acts *actions, j *job.Job, by job.Cause, why error) {
	detail := fmt.Sprintf("job %d was %s with no life cycle", j.ID, j.State)
	if why != nil {
		detail = fmt.Sprintf("job %d stopped while %s: %v", j.ID, j.State, why)
	}
	if by == job.CauseRecovery {
		detail = fmt.Sprintf("job %d was %s when bmcctld stopped", j.ID, j.State)
	}
	c.log.Info("recovering job", "job", j.ID, "state", j.State, "node", j.Node, "cause", by, "reason", detail)
	acts.add(j.Node, node.Event{Time: c.clk.Now(), Action: ActRecoverJob, Job: j.ID, Detail: detail})
	c.startLocked(j, by)
}

// nodeGoneLocked ends a job whose node left the configuration: there is no
// machine to ask.
func (c *Controller) nodeGoneLocked(j *job.Job, by job.Cause) {
	now := c.clk.Now()
	detail := fmt.Sprintf("node %s is no longer configured", j.Node)
	_, err := c.transitionLocked(step{id: j.ID, to: job.NodeFail, cause: by, ev: job.Event{Detail: detail},
		edit: func(j *job.Job) { j.EndTime, j.Detail, j.Outcome = now, detail, "" }})
	if err != nil {
		c.stallLocked(j.ID, 1, err)
		return
	}
	c.countAction(ActNodeFail)
}

// checkAgentsLocked stops every running job whose node agent has been
// silent for AgentTimeout: the job ends NODE_FAIL and its machine goes off.
func (c *Controller) checkAgentsLocked() {
	limit := c.cfg.Reconcile.AgentTimeout
	if limit <= 0 {
		return
	}
	var acts actions
	defer c.recordLocked(&acts)
	now := c.clk.Now()
	for id, lc := range c.running {
		j := c.jobs[id]
		if j.State != job.Running || lc.stopping {
			continue
		}
		ac, ok := c.nodes[j.Node].m.(machine.Contact)
		if !ok {
			continue
		}
		// An agent not heard since this controller started proves nothing
		// by its silence: its boot's tokens died with the last process, and
		// its heartbeats are refused until the recovered job's machine
		// adopts its agent token again (boot.Server.Adopt), or for good
		// when it cannot. The SSH connection watches it meanwhile.
		last := ac.LastContact(j)
		if last.IsZero() {
			continue
		}
		since := maxTime(last, j.RunTime)
		if now.Sub(since) < limit {
			continue
		}
		detail := fmt.Sprintf("node agent silent for %s (last heartbeat %s)", now.Sub(since).Round(time.Second),
			last.Format(time.RFC3339))
		lc.stopping = true
		c.log.Warn("reconciler: node agent lost; stopping the job", "job", id, "node", j.Node, "reason", detail)
		lc.cancel(&stopCause{outcome: job.NodeFail, by: "the reconciler", cause: job.CauseReconciler, detail: detail})
		acts.add(j.Node, node.Event{Time: now, Action: ActAgentLost, Job: id, Detail: detail})
	}
}

// actions are reconciler actions taken in one pass, each a node event.
type actions []struct {
	node string
	ev   node.Event
}

func (a *actions) add(name string, ev node.Event) {
	*a = append(*a, struct {
		node string
		ev   node.Event
	}{name, ev})
}

// recordLocked counts the actions and stores their events in one commit (a
// restart recovers every running job at once). The events are the record of
// actions already taken, not a change of state: a store that cannot take
// them is logged, and the actions stand.
func (c *Controller) recordLocked(acts *actions) {
	if len(*acts) == 0 {
		return
	}
	for i, a := range *acts {
		c.countAction(a.ev.Action)
		if rt, ok := c.nodes[a.node]; ok && a.ev.State == "" {
			(*acts)[i].ev.State = rt.State
		}
	}
	err := c.st.Update(func(tx *store.Tx) error {
		for _, a := range *acts {
			if err := tx.AddNodeEvent(a.node, a.ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.log.Warn("node events not stored", "events", len(*acts), "err", err)
	}
}

func (c *Controller) countAction(action string) {
	if c.hooks.Reconciled != nil {
		c.hooks.Reconciled(action)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
