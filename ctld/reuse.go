package ctld

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/scheduler"
)

// Reuse of a running machine for the same user's next job. When a job's
// command ends and a waiting job of the same user could take its machine
// (scheduler.ReuseOf), the machine is not switched off: the job ends at
// once, the node becomes IDLE-ON with node.Warm saying what it still runs,
// and the open agent session waits in nodeRT.warm. The next scheduling pass
// either gives the node to such a job (scheduler.Assignment.Reuse: the
// session moves to c.handoffs and the job's boot resets or kexecs the
// machine instead of power cycling it), or lists it in Plan.Cool and it is
// switched off. The energy between the two jobs is nobody's bill: the node
// events (kept_on, reuse, cool) say why the machine was on.

// ReusePolicy is bmcctld --reuse.
type ReusePolicy string

const (
	// ReuseSameUser hands a machine on to the same user's next job.
	ReuseSameUser ReusePolicy = "same-user"
	// ReuseNever power-cycles between every two jobs.
	ReuseNever ReusePolicy = "never"
)

// ParseReusePolicy reads --reuse.
func ParseReusePolicy(s string) (ReusePolicy, error) {
	switch p := ReusePolicy(s); p {
	case ReuseSameUser, ReuseNever:
		return p, nil
	}
	return "", fmt.Errorf("reuse policy %q: want same-user or never: %w", s, ErrInvalid)
}

// Node events of the reuse, also the values of node.Event.Action.
const (
	ActKeptOn      = "kept_on"    // a job ended; its machine stays on for the same user's next job
	ActReuse       = "reuse"      // a job took the machine the previous one left on
	ActReuseFail   = "reuse_fail" // the reset or kexec failed: power-cycled instead
	ActCool        = "cool"       // no job took the warm machine: switched off
	ReasonReuseGap = "reuse-gap"  // why the machine was on between two jobs, unbilled
)

// warmRT is a warm node's open session to its agent.
type warmRT struct {
	sess machine.Session
	from uint64 // the job that ended on it
}

// handoff is a warm session on its way to the job the scheduler gave it to.
type handoff struct {
	warmRT
	kind scheduler.ReuseKind
}

// keepWarm reports whether j's machine should stay on after j ended with
// outcome: the policy allows it, the session can hand the machine on, and
// a job waiting now is one the scheduler would give it to.
func (c *Controller) keepWarm(j *job.Job, outcome job.State, sess machine.Session) *node.Warm {
	if c.cfg.Reuse == ReuseNever || j.Spec.NoReuse {
		return nil
	}
	switch outcome {
	case job.Completed, job.Failed, job.Timeout:
	default:
		return nil // a node that failed, or a job cancelled or requeued: switch it off
	}
	if _, ok := sess.(machine.Reuser); !ok {
		return nil
	}
	w := &node.Warm{Job: j.ID, UID: j.UID, Kernel: j.Spec.Kernel, Initrd: j.Spec.Initrd, Cmdline: j.Spec.Cmdline, Image: j.Spec.Image}
	c.mu.RLock()
	defer c.mu.RUnlock()
	rt, ok := c.nodes[j.Node]
	if !ok || rt.Drain {
		return nil
	}
	n := *rt.Node
	n.State, n.Warm = node.IdleOn, w
	for _, pj := range c.jobs {
		if pj.State == job.Pending && pj.ID != j.ID && scheduler.ReuseOf(&n, pj) != "" {
			return w
		}
	}
	return nil
}

// endWarm ends j on a machine that stays on: the job's outcome is final at
// once (its bill ends here), the node becomes IDLE-ON and the scheduler is
// woken to hand it on.
func (c *Controller) endWarm(id uint64, m machine.Machine, sess machine.Session, w *node.Warm, outcome job.State, exit int, detail string) error {
	j := c.job(id)
	now := c.clk.Now()
	c.mu.Lock()
	_, err := c.transitionLocked(step{id: id, to: outcome, cause: job.CauseLifecycle,
		ev:   job.Event{Detail: joinDetail(detail, "machine kept on for the same user's next job")},
		node: nodeEffect{op: nodeWarm, warm: w},
		edit: func(j *job.Job) {
			j.Reason, j.ExitCode, j.Detail, j.EndTime, j.Outcome = job.ReasonNone, exit, detail, now, ""
		}})
	if err == nil {
		c.nodes[j.Node].warm = &warmRT{sess: sess, from: id}
	}
	c.mu.Unlock()
	if err != nil {
		// Still RUNNING: the reconciler's restart of the life cycle
		// reconnects with the job's key and ends it as usual.
		sess.Close()
		return err
	}
	m.Finish(j) // the old boot's tokens and key: the open session needs neither
	c.Wake()
	return nil
}

// handOnLocked moves the warm session of an assignment's node to its job.
func (c *Controller) handOnLocked(j *job.Job, kind scheduler.ReuseKind) {
	rt := c.nodes[j.Node]
	if rt.warm != nil {
		c.handoffs[j.ID] = &handoff{warmRT: *rt.warm, kind: kind}
		rt.warm = nil
	}
}

func (c *Controller) takeHandoff(id uint64) *handoff {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.handoffs[id]
	delete(c.handoffs, id)
	return h
}

// handOn starts j's boot on the machine its previous job left on: a reset
// returns the session to run j in, a kexec returns jumped and the caller
// waits for the new kernel's agent. On a refusal or failure the machine is
// switched off and why says so: the caller powers it on as for any boot.
func (c *Controller) handOn(ctx context.Context, id uint64, m machine.Machine, h *handoff) (sess machine.Session, jumped bool, why string, err error) {
	j := c.job(id)
	r := h.sess.(machine.Reuser) // keepWarm checked it
	var rerr error
	switch h.kind {
	case scheduler.ReuseReset:
		sess, rerr = r.Reset(ctx, j)
	case scheduler.ReuseKexec:
		rerr = r.Kexec(ctx, j)
		jumped = rerr == nil
	default:
		rerr = fmt.Errorf("unknown reuse %q", h.kind)
	}
	if rerr == nil {
		c.nodeEvent(j.Node, node.Event{Time: c.clk.Now(), Action: ActReuse, State: node.Allocated, Job: id,
			Detail: fmt.Sprintf("%s: job %d follows job %d of the same user without a power cycle", h.kind, id, h.from)})
		return sess, jumped, "", nil
	}
	if c.shuttingDown() || ctx.Err() != nil {
		return nil, false, "", ctx.Err()
	}
	why = fmt.Sprintf("%s failed (%v); power-cycled instead", h.kind, rerr)
	if errors.Is(rerr, machine.ErrReuseRefused) {
		why = fmt.Sprintf("%s refused by the node (%v); power-cycled instead", h.kind, rerr)
	}
	c.log.Info("reuse did not happen; power-cycling the node", "job", id, "node", j.Node, "kind", h.kind, "err", rerr)
	c.nodeEvent(j.Node, node.Event{Time: c.clk.Now(), Action: ActReuseFail, State: node.Allocated, Job: id, Detail: why})
	if perr := c.powerOffConfirm(ctx, j.Node, m); perr != nil {
		return nil, false, why, fmt.Errorf("%s; then BMC power off: %w", why, perr)
	}
	return nil, false, why, nil
}

// nodeEvent adds a line to a node's history. The node record does not
// change, so a failed write loses only the line, which the log keeps.
func (c *Controller) nodeEvent(name string, ev node.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rt, ok := c.nodes[name]
	if !ok {
		return
	}
	if err := c.putNodeLocked(rt, rt.Node, ev); err != nil {
		c.log.Warn("node event not stored", "node", name, "action", ev.Action, "detail", ev.Detail, "err", err)
	}
}

// coolLocked switches off a warm node no job took. It is held from the
// scheduler meanwhile; a failed power-off puts it DOWN for the reconciler
// to retry, as for any machine on with no job.
func (c *Controller) coolLocked(name string) {
	rt, ok := c.nodes[name]
	if !ok || rt.State != node.IdleOn || rt.rec.reserved() || c.runCtx == nil {
		return
	}
	if rt.warm != nil {
		rt.warm.sess.Close()
		rt.warm = nil
	}
	rt.rec.busy = true
	m := rt.m
	c.runGroup.Add(1)
	go func() {
		defer c.runGroup.Done()
		ctx := c.runCtx
		perr := c.bmcCall(ctx, m.PowerOff)
		c.mu.Lock()
		defer c.mu.Unlock()
		rt.rec.busy = false
		if ctx.Err() != nil || rt.State != node.IdleOn {
			return
		}
		now := c.clk.Now()
		n := *rt.Node
		n.Warm, n.Since = nil, now
		if perr != nil {
			rt.Node = &n
			c.powerOffDoneLocked(rt, now, perr)
			return
		}
		rt.power = power.Off
		n.State = node.Idle
		ev := node.Event{Time: now, Action: ActCool, State: node.Idle,
			Detail: fmt.Sprintf("switched off: no job of the same user took it (on since %s, %s)", rt.Since.Format(time.RFC3339), ReasonReuseGap)}
		if err := c.putNodeLocked(rt, &n, ev); err != nil {
			// Still IDLE-ON in the record: the next pass cools it again.
			c.log.Warn("node record not stored; the next pass tries again", "node", name, "err", err)
			return
		}
		c.Wake()
	}()
}
