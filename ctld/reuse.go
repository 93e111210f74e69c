package ctld

import (
	"context"
	"errors"
	"fmt"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/scheduler"
)

// Reuse of a running machine for the same user's next job. When a job's
// command ends, its machine stays on (IDLE-ON, idleoff.go) and a job of the
// same user waits that could take it (scheduler.ReuseOf), the open agent
// session is kept in nodeRT.warm and node.Warm says what the machine still
// runs. When the scheduler gives the node to such a job
// (scheduler.Assignment.Reuse), the session moves to c.handoffs and the
// job's boot resets or kexecs the machine instead of power cycling it. Any
// other job on the node, and the reconciler switching it off, drop the
// session. The energy between the two jobs is nobody's bill: the node
// events say why the machine was on (reuse-gap).

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
	ActReuse     = "reuse"      // a job took the machine the previous one left on
	ActReuseFail = "reuse_fail" // the reset or kexec failed: power-cycled instead
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

// reusable returns what j's machine still runs when its session should
// stay open for a reuse: the policy allows it, the job ended by itself, the
// session can hand the machine on, and a job waiting now is one the
// scheduler would give it to. nil: close the session.
func (c *Controller) reusable(j *job.Job, outcome job.State, sess machine.Session) *node.Warm {
	if c.cfg.Reuse == ReuseNever || j.Spec.NoReuse {
		return nil
	}
	switch outcome {
	case job.Completed, job.Failed, job.Timeout:
	default:
		return nil // a job cancelled or requeued: its command may still run
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

// releaseWarm ends a job whose machine stays on (IDLE-ON) and, with w set,
// keeps its session for the reuse.
func (c *Controller) releaseWarm(id uint64, final job.State, detail string, sess machine.Session, w *node.Warm) error {
	now := c.clk.Now()
	c.mu.Lock()
	j, err := c.transitionLocked(step{id: id, to: final, cause: job.CauseLifecycle, ev: job.Event{Detail: detail},
		node: nodeEffect{op: nodeWarm, warm: w},
		edit: func(j *job.Job) { j.Reason, j.Detail, j.EndTime, j.Outcome = job.ReasonNone, detail, now, "" }})
	if err == nil && w != nil {
		if rt := c.nodes[j.Node]; rt.State == node.IdleOn && rt.Warm != nil {
			rt.warm = &warmRT{sess: sess, from: id}
			w = nil
		}
	}
	c.mu.Unlock()
	if w != nil {
		sess.Close()
	}
	c.Wake()
	return err
}

// dropWarmLocked closes a node's kept session: its machine goes to another
// job through a power cycle, or is switched off.
func (c *Controller) dropWarmLocked(rt *nodeRT) {
	if rt.warm != nil {
		rt.warm.sess.Close()
		rt.warm = nil
	}
}

// handOnLocked moves the warm session of an assignment's node to its job.
func (c *Controller) handOnLocked(j *job.Job, kind scheduler.ReuseKind) {
	rt := c.nodes[j.Node]
	if rt.warm != nil && kind != "" {
		c.handoffs[j.ID] = &handoff{warmRT: *rt.warm, kind: kind}
		rt.warm = nil
	}
	c.dropWarmLocked(rt)
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
	r := h.sess.(machine.Reuser) // reusable checked it
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
