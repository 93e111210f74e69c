package ctld

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/scheduler"
	"github.com/bmc-sched/bmc/store"
)

// Whether a machine stays on after its job (bmcctld --idle-off). Booting a
// machine costs its boot energy; keeping it on costs its idle power. Not
// knowing when the next job comes, keeping it on for T = boot energy ÷ idle
// power and then switching it off (the ski-rental break-even) never spends
// more than twice what knowing would have.
//
// One mechanism switches off every machine on with no job: the reconciler,
// at a deadline. A machine a job leaves on is IDLE-ON until
// node.WarmUntil = its job's end + the policy's hold (immediate: the life
// cycle switches it off itself; breakeven: T of its kind; never: no
// deadline), or earlier when no waiting job fits it. A machine found on that
// no job left on (a power-on that failed but came on, a button pressed) is
// held from the scheduler and goes off after --idle-off-grace, as before;
// the grace is also breakeven's T for a kind with neither ledger history
// nor nodes-file figures.

// IdleOffPolicy says whether a machine stays on after its job.
type IdleOffPolicy string

// The policies of --idle-off.
const (
	IdleOffImmediate IdleOffPolicy = "immediate" // switch off at the job's end
	IdleOffBreakeven IdleOffPolicy = "breakeven" // stay on for boot energy ÷ idle power
	IdleOffNever     IdleOffPolicy = "never"     // stay on until a job needs the machine
)

// String, Set and Type make *IdleOffPolicy a command-line flag.
func (p *IdleOffPolicy) String() string { return string(*p) }

// Set parses a policy name.
func (p *IdleOffPolicy) Set(s string) error {
	switch v := IdleOffPolicy(strings.TrimSpace(s)); v {
	case IdleOffImmediate, IdleOffBreakeven, IdleOffNever:
		*p = v
		return nil
	}
	return fmt.Errorf("idle-off policy %q: must be immediate, breakeven or never", s)
}

// Type names the flag's value in help.
func (p *IdleOffPolicy) Type() string { return "immediate|breakeven|never" }

// kindEnergyMaxAge is how long the ledger's per-kind figures are used
// before they are read again: a scan of the ledger is not free, and a
// kind's boot energy moves slowly.
const kindEnergyMaxAge = 10 * time.Minute

// idleState caches the ledger's per-kind figures for the break-even.
type idleState struct {
	mu    sync.Mutex
	kinds map[string]store.KindEnergy
	read  time.Time // controller clock; zero: never read
}

// refreshKindEnergy reads the ledger's per-kind figures when they are
// stale. It reads the store and must be called without c.mu held. A
// ledger that cannot be read keeps the old figures (or the nodes file's):
// the break-even is a cost estimate, and the next pass tries again.
func (c *Controller) refreshKindEnergy() {
	if c.cfg.Reconcile.IdleOff != IdleOffBreakeven {
		return
	}
	now := c.clk.Now()
	c.idle.mu.Lock()
	fresh := !c.idle.read.IsZero() && now.Sub(c.idle.read) < kindEnergyMaxAge
	c.idle.mu.Unlock()
	if fresh {
		return
	}
	var kinds map[string]store.KindEnergy
	err := c.st.View(func(tx *store.Tx) (err error) { kinds, err = tx.KindEnergy(); return err })
	if err != nil {
		c.log.Warn("ledger not read for the idle-off break-even; keeping the last figures", "err", err)
		return
	}
	c.idle.mu.Lock()
	c.idle.kinds, c.idle.read = kinds, now
	c.idle.mu.Unlock()
}

// Breakeven is T for a machine: its boot energy ÷ its idle power, from the
// ledger's measurements of its kind where there are some, else from the
// nodes file. ok is false when neither says.
func (c *Controller) Breakeven(cfg node.Config) (time.Duration, bool) {
	kind := cfg.Kind
	if kind == "" {
		kind = cfg.Arch
	}
	c.idle.mu.Lock()
	k := c.idle.kinds[kind]
	c.idle.mu.Unlock()
	return BreakevenHold(cfg, k)
}

// BreakevenHold is T = boot energy ÷ idle power for a machine of cfg whose
// kind the ledger measured as k (bench/replay uses it with no history).
func BreakevenHold(cfg node.Config, k store.KindEnergy) (time.Duration, bool) {
	boot, idle := cfg.BootJoules, cfg.IdleWatts
	if k.Boots > 0 {
		boot = k.BootJoules
	}
	// The ledger's lowest run power is an upper bound of idle power: it
	// replaces the nodes file's figure only when it is lower.
	if k.Runs > 0 && (idle <= 0 || k.LowWatts < idle) {
		idle = k.LowWatts
	}
	if boot <= 0 || idle <= 0 {
		return 0, false
	}
	return time.Duration(boot / idle * float64(time.Second)), true
}

// warmHold is how long a machine a job leaves on stays IDLE-ON, and
// whether it stays on at all (false: the life cycle switches it off).
// forever is true under --idle-off never.
func (c *Controller) warmHold(cfg node.Config) (hold time.Duration, keep, forever bool) {
	switch c.cfg.Reconcile.IdleOff {
	case IdleOffNever:
		return 0, true, true
	case IdleOffBreakeven:
		t, ok := c.Breakeven(cfg)
		if !ok {
			t = c.cfg.Reconcile.IdleOffGrace
		}
		return t, t > 0, false
	}
	return 0, false, false
}

// keepWarm reports whether the life cycle leaves j's machine on: the
// policy says so, the job ended by itself or by a user (a NODE_FAIL or a
// requeue switches the machine off), and the node takes new jobs.
func (c *Controller) keepWarm(j *job.Job, outcome job.State) bool {
	switch outcome {
	case job.Completed, job.Failed, job.Timeout, job.Cancelled:
	default:
		return false
	}
	c.mu.RLock()
	rt, ok := c.nodes[j.Node]
	var n *node.Node
	if ok {
		n = rt.Node // records are copy-on-write: this one stays as it is
	}
	c.mu.RUnlock()
	if n == nil || n.Drain {
		return false
	}
	_, keep, _ := c.warmHold(n.Config)
	return keep
}

// endWarm ends a job whose machine stays on: the outcome is recorded
// (POWERING_OFF, so the bill's phases stay the same), then the job ends and
// its node becomes IDLE-ON. No ledger row is written for the time the
// machine then spends on: that energy is the cluster's (reason idle-on).
//
// With w set (reuse.go), sess stays open on the IDLE-ON node for the same
// user's next job; otherwise the caller closes it.
func (c *Controller) endWarm(ctx context.Context, id uint64, m machine.Machine, by job.Cause, outcome job.State, exit int, detail string,
	sess machine.Session, w *node.Warm) error {
	_, err := c.transition(step{id: id, to: job.PoweringOff, cause: by, ev: job.Event{Detail: detail},
		edit: func(j *job.Job) { j.Outcome, j.ExitCode, j.Detail = outcome, exit, detail }})
	if err != nil {
		if w != nil {
			sess.Close()
		}
		return err
	}
	j := c.job(id)
	c.sampleFinal(ctx, j.Node) // the bill ends with the job, not with the power
	m.Finish(j)
	return c.releaseWarm(id, j.Outcome, j.Detail, sess, w)
}

// warmNodeLocked fills in n, the node a job of user leaves on at now.
func (c *Controller) warmNodeLocked(n *node.Node, user string, now time.Time) *node.Event {
	hold, _, forever := c.warmHold(n.Config)
	n.State, n.WarmUser, n.WarmUntil = node.IdleOn, user, time.Time{}
	detail := "kept on for the next job (--idle-off never)"
	if !forever {
		n.WarmUntil = now.Add(hold)
		detail = fmt.Sprintf("kept on for the next job until %s (--idle-off %s: %s)",
			n.WarmUntil.Format(time.RFC3339), c.cfg.Reconcile.IdleOff, hold.Round(time.Second))
	}
	return &node.Event{Time: now, Action: ActIdleOn, State: node.IdleOn, Detail: detail}
}

// ActIdleOn is the node event of a machine a job left on (IDLE-ON).
const ActIdleOn = "idle_on"

// warmOffLocked is WarmOffDue for one of the controller's nodes. shapes,
// when not nil, is WaitingShapes of this pass; nil computes it.
func (c *Controller) warmOffLocked(rt *nodeRT, now time.Time, shapes []*job.Spec) (bool, string) {
	if shapes == nil && !rt.Drain && (rt.WarmUntil.IsZero() || now.Before(rt.WarmUntil)) {
		shapes = WaitingShapes(maps.Values(c.jobs))
	}
	return WarmOffDue(rt.Node, now, shapes, c.cfg.Scheduler)
}

// WarmOffDue reports whether an IDLE-ON machine is due to be switched off
// at now, and why: drained, past its deadline, or (when it has one) no
// waiting job fits it, by the scheduler's own check. shapes are
// WaitingShapes of the queue. bench/replay decides with it too.
func WarmOffDue(n *node.Node, now time.Time, shapes []*job.Spec, cfg scheduler.Config) (bool, string) {
	switch {
	case n.Drain:
		return true, "drained"
	case !n.WarmUntil.IsZero() && !now.Before(n.WarmUntil):
		return true, fmt.Sprintf("idle since %s, its break-even", n.Since.Format(time.RFC3339))
	case n.WarmUntil.IsZero():
		return false, "" // --idle-off never: on until a job needs it
	}
	one := []*node.Node{n}
	for _, s := range shapes {
		if scheduler.Feasible(s, one, cfg) == nil {
			return false, ""
		}
	}
	return true, "no waiting job fits it"
}

// WaitingShapes is one job spec for each distinct shape (partition, arch,
// features, cores, memory) among the waiting jobs: whether a job fits a
// machine depends on nothing else, and there are far fewer shapes than
// jobs. Never nil.
func WaitingShapes(jobs iter.Seq[*job.Job]) []*job.Spec {
	type shape struct {
		part, arch, feats string
		cores             int
		mem               job.Size
	}
	seen := map[shape]bool{}
	out := []*job.Spec{}
	for j := range jobs {
		if j.State != job.Pending {
			continue
		}
		s := j.Spec
		k := shape{s.Partition, s.Arch, strings.Join(s.Features, "\x00"), s.Cores, s.Memory}
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}

// powerCycleFirst switches off a machine that may be on before its job's
// boot: an IDLE-ON machine still runs the last job's system, and RAM
// survives a warm reboot, so the next job starts from power off. A
// machine whose power state is unknown (after a restart) gets the same
// clean start; one known off is left alone.
func (c *Controller) powerCycleFirst(ctx context.Context, name string, m machine.Machine) error {
	c.mu.RLock()
	st := c.nodes[name].power
	c.mu.RUnlock()
	if st == power.Off {
		return nil
	}
	return c.powerOffConfirm(ctx, name, m)
}
