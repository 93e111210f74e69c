package ctld

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/store"
)

// nodeRec is what the reconciler knows of a node without a job, and plans.
type nodeRec struct {
	queued  bool      // waiting for a probe worker
	busy    bool      // a BMC call for it is in flight
	held    bool      // on with no job: kept from the scheduler until it is off
	onSince time.Time // when it was first seen on with no job
	offWhy  string    // why an IDLE-ON machine is being switched off
	next    time.Time // when to ask its BMC again; zero: at the next pass
	tries   int       // BMC calls that failed in a row (backoff)
}

// reserved reports whether the reconciler keeps the node from the scheduler.
func (r *nodeRec) reserved() bool { return r.held || r.busy }

// faulted plans the first retry of a node a job left DOWN with a fault.
func (r *nodeRec) faulted(first time.Time) {
	r.tries, r.next = max(r.tries, 1), first
}

// probeWorkers bounds the BMC calls the reconciler makes at once: a dead
// BMC holds a worker for CallTimeout, the others go on.
const probeWorkers = 8

type probe struct {
	name string
	m    machine.Machine
}

// queueProbesLocked queues every node without a job whose BMC is due to be
// asked.
func (c *Controller) queueProbesLocked() {
	now := c.clk.Now()
	var shapes []*job.Spec // of the waiting jobs, computed once if an IDLE-ON node needs them
	for _, name := range c.names {
		rt := c.nodes[name]
		if rt.Job != 0 || rt.rec.queued || rt.rec.busy {
			continue
		}
		if now.Before(rt.rec.next) {
			if rt.State != node.IdleOn {
				continue
			}
			if shapes == nil {
				shapes = WaitingShapes(maps.Values(c.jobs))
			}
			if off, _ := c.warmOffLocked(rt, now, shapes); !off {
				continue
			}
		}
		select {
		case c.probeQ <- probe{name, rt.m}:
			rt.rec.queued = true
		default:
			return // the queue is full: the rest wait for the next pass
		}
	}
}

// probeWorker asks the BMCs of queued nodes. A node is held from the
// scheduler while its call is in flight, so it cannot be given a job that
// the answer would then switch off.
func (c *Controller) probeWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-c.probeQ:
			c.mu.Lock()
			rt := c.nodes[p.name]
			rt.rec.queued = false
			start := rt.Job == 0
			rt.rec.busy = start
			c.mu.Unlock()
			if start {
				c.checkNode(ctx, p.name, p.m)
			}
		}
	}
}

// bmcCall runs one BMC call under CallTimeout on the controller's clock.
func (c *Controller) bmcCall(ctx context.Context, f func(context.Context) error) error {
	cctx, cancel := c.withTimeout(ctx, c.cfg.Reconcile.CallTimeout, errBMCTimeout)
	defer cancel()
	err := f(cctx)
	if err != nil && errors.Is(context.Cause(cctx), errBMCTimeout) {
		err = fmt.Errorf("%w: %w", errBMCTimeout, err)
	}
	return err
}

var errBMCTimeout = fmt.Errorf("no answer from the BMC: %w", context.DeadlineExceeded)

// checkNode asks a node's BMC for its power state and acts on the answer:
// off is what a node without a job should be; on is switched off after the
// grace (at once when a power-off already failed); no answer puts the node
// DOWN until it answers.
func (c *Controller) checkNode(ctx context.Context, name string, m machine.Machine) {
	var st power.State
	err := c.bmcCall(ctx, func(ctx context.Context) (err error) { st, err = m.PowerState(ctx); return err })
	if err == nil && st != power.On && st != power.Off {
		err = fmt.Errorf("BMC reports power state %q", st)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rt := c.nodes[name]
	rt.rec.busy = false
	if ctx.Err() != nil || rt.Job != 0 {
		return
	}
	now := c.clk.Now()
	switch {
	case err != nil && rt.Fault == node.FaultPowerOff:
		c.powerOffDoneLocked(rt, now, err) // this retry failed at its first call
		return
	case err != nil:
		c.powerError(name, err)
		c.bmcSilentLocked(rt, now, err)
		return
	case st == power.Off:
		rt.setPower(power.Off, now)
		c.nodeOffLocked(rt, now, "")
		return
	}
	rt.setPower(power.On, now)
	if rt.State == node.IdleOn {
		off, why := c.warmOffLocked(rt, now, nil)
		if !off {
			rt.rec.next = now.Add(c.cfg.Reconcile.PowerSync)
			if !rt.WarmUntil.IsZero() && rt.WarmUntil.Before(rt.rec.next) {
				rt.rec.next = rt.WarmUntil
			}
			return
		}
		rt.rec.offWhy = why
		c.switchOffLocked(ctx, rt, m)
		return
	}
	if rt.rec.onSince.IsZero() {
		rt.rec.onSince = now
		c.log.Info("machine on with no job; holding it and switching it off after the grace", "node", name,
			"state", rt.State, "off_at", now.Add(c.cfg.Reconcile.IdleOffGrace))
	}
	rt.rec.held = true
	due := rt.rec.onSince.Add(c.cfg.Reconcile.IdleOffGrace)
	if rt.Fault == node.FaultPowerOff {
		due = now // it should have been off already
	}
	if now.Before(due) {
		rt.rec.next = due
		return
	}
	c.switchOffLocked(ctx, rt, m)
}

// switchOffLocked switches off a node without a job through its BMC. c.mu
// is released during the call; the node is held from the scheduler then.
func (c *Controller) switchOffLocked(ctx context.Context, rt *nodeRT, m machine.Machine) {
	rt.rec.busy = true
	c.mu.Unlock()
	perr := c.bmcCall(ctx, m.PowerOff)
	c.mu.Lock()
	rt.rec.busy = false
	if ctx.Err() != nil || rt.Job != 0 {
		return
	}
	c.powerOffDoneLocked(rt, c.clk.Now(), perr)
}

// powerOffDoneLocked records the power-off of a node without a job.
func (c *Controller) powerOffDoneLocked(rt *nodeRT, now time.Time, perr error) {
	action := ActIdleOff
	if rt.Fault == node.FaultPowerOff {
		action = ActPowerOffRetry
	}
	if perr == nil {
		rt.setPower(power.Off, now)
		c.log.Info("reconciler: machine switched off", "node", rt.Name, "action", action,
			"on_since", rt.rec.onSince, "tries", rt.rec.tries)
		c.nodeOffLocked(rt, now, action)
		return
	}
	c.powerError(rt.Name, perr)
	rt.rec.tries++
	rt.rec.next = now.Add(c.cfg.Reconcile.backoff(rt.rec.tries))
	reason := fmt.Sprintf("power off failed: %v", perr)
	detail := fmt.Sprintf("%s (try %d; next at %s)", reason, rt.rec.tries, rt.rec.next.Format(time.RFC3339))
	c.log.Warn("reconciler: power off failed; retrying with backoff", "node", rt.Name, "action", action,
		"tries", rt.rec.tries, "retry_at", rt.rec.next, "reason", reason)
	n := *rt.Node
	n.State, n.Reason, n.Fault, n.Since = node.Down, reason, node.FaultPowerOff, now
	n.WarmUntil, n.WarmUser = time.Time{}, ""
	if rt.State == node.Down && rt.Fault == "" {
		n.Reason = rt.Reason // an admin's DOWN keeps its reason; the retries go on
	}
	c.countAction(action)
	if err := c.putNodeLocked(rt, &n, node.Event{Time: now, Action: action, State: n.State, Detail: detail}); err != nil {
		c.log.Warn("node record not stored; the next pass tries again", "node", rt.Name, "err", err)
	}
}

// nodeOffLocked records that a node without a job is off: held no longer,
// and back in service if the reconciler had put it DOWN. action names the
// power-off that got it there, if any.
func (c *Controller) nodeOffLocked(rt *nodeRT, now time.Time, action string) {
	wasHeld, why := rt.rec.held, rt.rec.offWhy
	rt.rec = nodeRec{next: now.Add(c.cfg.Reconcile.PowerSync)}
	if wasHeld {
		c.Wake()
	}
	n := *rt.Node
	detail := "machine switched off; it was on with no job"
	if n.State == node.IdleOn {
		n.State, n.Since, n.WarmUntil, n.WarmUser, n.Warm = node.Idle, now, time.Time{}, "", nil
		c.dropWarmLocked(rt)
		detail = "IDLE-ON machine switched off: " + why
		if action == "" { // found off: someone else switched it off
			action, detail = ActIdleOff, "IDLE-ON machine found off"
		}
	}
	var up *node.Event
	if rt.Fault != "" && rt.State == node.Down {
		detail := fmt.Sprintf("%s cleared: the BMC answers and the machine is off", rt.Reason)
		n.State, n.Reason, n.Fault, n.Since = node.Idle, "", "", now
		if n.Drain {
			n.Reason = rt.Reason
		}
		c.countAction(ActNodeUp)
		c.log.Info("reconciler: node back in service", "node", rt.Name, "reason", detail)
		up = &node.Event{Time: now, Action: ActNodeUp, State: n.State, Detail: detail}
		c.Wake()
	}
	var evs []node.Event
	if action != "" {
		c.countAction(action)
		evs = append(evs, node.Event{Time: now, Action: action, State: n.State, Detail: detail})
	}
	if up != nil {
		evs = append(evs, *up)
	}
	if len(evs) == 0 {
		return
	}
	if err := c.putNodeLocked(rt, &n, evs...); err != nil {
		c.log.Warn("node record not stored; the next pass tries again", "node", rt.Name, "err", err)
		rt.rec.next = time.Time{}
	}
}

// bmcSilentLocked puts a node whose BMC does not answer DOWN (unless it is
// DOWN already) and plans the next question with backoff.
func (c *Controller) bmcSilentLocked(rt *nodeRT, now time.Time, err error) {
	rt.rec.tries++
	rt.rec.next = now.Add(c.cfg.Reconcile.backoff(rt.rec.tries))
	rt.setPower(power.Unknown, now)
	c.log.Warn("BMC does not answer", "node", rt.Name, "tries", rt.rec.tries, "retry_at", rt.rec.next, "err", err)
	if rt.State == node.Down {
		return // the first reason stays: a failed power-off, or an admin's
	}
	n := *rt.Node
	n.State, n.Reason, n.Fault, n.Since = node.Down, fmt.Sprintf("BMC: %v", err), node.FaultBMC, now
	c.countAction(ActNodeDown)
	ev := node.Event{Time: now, Action: ActNodeDown, State: node.Down, Detail: n.Reason}
	if perr := c.putNodeLocked(rt, &n, ev); perr != nil {
		c.log.Warn("node record not stored; the next pass tries again", "node", rt.Name, "err", perr)
		rt.rec.next = time.Time{}
	}
}

// putNodeLocked writes a node record with its events, then publishes it.
func (c *Controller) putNodeLocked(rt *nodeRT, n *node.Node, evs ...node.Event) error {
	err := c.st.Update(func(tx *store.Tx) error {
		if err := tx.PutNode(n); err != nil {
			return err
		}
		for _, ev := range evs {
			if err := tx.AddNodeEvent(n.Name, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	rt.Node = n
	return nil
}
