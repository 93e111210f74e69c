package ctld

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/joboutput"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
)

// Why a job's life cycle was interrupted, carried as the context's cause.
type stopCause struct {
	outcome job.State // Cancelled, NodeFail, or Pending for a requeue
	by      string    // who, for the event: a user name or "the reconciler"
	cause   job.Cause
	detail  string // replaces the default text when set
}

func (s *stopCause) Error() string {
	switch {
	case s.detail != "":
		return s.detail
	case s.outcome == job.Pending:
		return "requeued by " + s.by
	}
	return "cancelled by " + s.by
}

// startLocked runs j's life cycle in its own goroutine. by is empty for a
// job the scheduler just placed, else the cause that restarts the life cycle
// of a job found on its node (recovery after a restart, or the reconciler).
// A life cycle that stops before the job left its node hands its error to
// the reconciler (stallLocked).
func (c *Controller) startLocked(j *job.Job, by job.Cause) {
	ctx, cancel := context.WithCancelCause(c.runCtx)
	lc := &lifecycle{cancel: cancel}
	if s, ok := c.stalls[j.ID]; ok {
		lc.tries = s.tries
		delete(c.stalls, j.ID)
	}
	c.running[j.ID] = lc
	if by != "" {
		c.resumeRecordingLocked(j)
	}
	c.runGroup.Add(1)
	go func() {
		defer c.runGroup.Done()
		defer cancel(nil)
		err := c.drive(ctx, j.ID, by)
		c.mu.Lock()
		delete(c.running, j.ID)
		if cur := c.jobs[j.ID]; cur.State.Active() && !c.shuttingDown() {
			if err == nil {
				err = fmt.Errorf("life cycle ended with the job still %s", cur.State)
			}
			c.stallLocked(j.ID, lc.tries+1, err)
		}
		c.mu.Unlock()
		c.Wake()
	}()
}

func (c *Controller) job(id uint64) *job.Job {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.jobs[id]
}

func (c *Controller) machine(name string) (machine.Machine, node.Config) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := c.nodes[name]
	return n.m, n.Config
}

// shuttingDown reports whether ctx ended because bmcctld stops: then the
// life cycle leaves every record as it is, for the next start to reconcile.
func (c *Controller) shuttingDown() bool { return c.runCtx.Err() != nil }

// drive moves one job from where it is to a final state (or back to the
// queue). by is set when the life cycle restarts on a job already on its
// node. An error is a change that did not commit; the reconciler takes over.
func (c *Controller) drive(ctx context.Context, id uint64, by job.Cause) error {
	j := c.job(id)
	m, ncfg := c.machine(j.Node)
	log := c.log.With("job", id, "node", j.Node)
	var (
		sess    machine.Session
		resumed bool
		err     error
	)
	if by != "" {
		why := "controller restarted"
		if by == job.CauseReconciler {
			why = "life cycle restarted by the reconciler"
		}
		switch j.State {
		case job.PoweringOn, job.Booting:
			// The boot's tokens and agent connection are gone; a clean
			// power cycle is the only trustworthy start.
			log.Info("restarting the life cycle of a job that was booting: power-cycling its node", "cause", by)
			if err := c.powerOffConfirm(ctx, j.Node, m); err != nil {
				if c.shuttingDown() {
					return nil
				}
				return c.bootFailed(id, fmt.Sprintf("%s: power off: %v", why, err), downNode(fmt.Sprintf("power off failed: %v", err), node.FaultPowerOff))
			}
			if j, err = c.transition(step{id: id, to: job.Allocated, cause: by,
				ev:   job.Event{Reason: job.ReasonRecovered, Detail: why + " during boot; booting again"},
				edit: func(j *job.Job) { j.Boot++ }}); err != nil {
				return err
			}
		case job.Running:
			sess, err = m.Resume(ctx, j)
			if err != nil {
				if c.shuttingDown() {
					return nil
				}
				log.Warn("cannot reconnect to a running job", "cause", by, "err", err)
				return c.endOnNode(ctx, id, m, by, job.NodeFail, j.ExitCode, fmt.Sprintf("%s: %v", why, err))
			}
			resumed = true
		case job.PoweringOff:
			return c.finishPowerOff(ctx, id, m)
		}
	}

	if !resumed {
		if sess, err = c.boot(ctx, id, m, ncfg); err != nil || sess == nil {
			return err
		}
	}
	kept := false
	defer func() {
		if !kept {
			sess.Close()
		}
	}()
	j = c.job(id)
	exit, runErr := c.runCommand(ctx, j, sess, resumed)
	if c.shuttingDown() {
		return nil
	}
	c.awaitInbandEnd(ctx, j, c.clk.Now())
	outcome, detail, cause := job.Completed, "", job.CauseLifecycle
	var stop *stopCause
	switch {
	case errors.As(context.Cause(ctx), &stop):
		outcome, detail, cause = stop.outcome, stop.Error(), stop.cause
	case errors.Is(runErr, joboutput.ErrNotRegular):
		// The user put a FIFO or a device where the output goes.
		outcome, detail = job.Failed, runErr.Error()
	case errors.Is(runErr, errTimeLimit):
		outcome, detail = job.Timeout, fmt.Sprintf("time limit %s reached", j.Spec.TimeLimit)
	case runErr != nil:
		outcome, detail = job.NodeFail, runErr.Error()
	case exit != 0:
		outcome, detail = job.Failed, fmt.Sprintf("exit status %d", exit)
	}
	if c.keepWarm(j, outcome) {
		w := c.reusable(j, outcome, sess)
		kept = w != nil
		return c.endWarm(context.WithoutCancel(ctx), id, m, cause, outcome, exit, detail, sess, w)
	}
	if outcome != job.Pending {
		c.offAsked(j.Node, c.clk.Now())
		if err := sess.PowerOff(ctx); err != nil && !errors.Is(err, power.ErrUnsupported) {
			log.Info("in-band power off failed; the BMC will do it", "err", err)
		}
	}
	return c.endOnNode(context.WithoutCancel(ctx), id, m, cause, outcome, exit, detail)
}

// boot takes an ALLOCATED job to RUNNING-ready: prepare, power on, wait for
// the agent. It returns a nil session when the job left the node (or
// bmcctld stops), and an error when a change did not commit.
func (c *Controller) boot(ctx context.Context, id uint64, m machine.Machine, ncfg node.Config) (machine.Session, error) {
	j := c.job(id)
	log := c.log.With("job", id, "node", j.Node)
	// A machine the same user's last job left on (reuse.go). Any way this
	// boot ends, the old session goes: the next job has its own.
	h := c.takeHandoff(id)
	if h != nil {
		defer h.sess.Close()
	}
	if err := joboutput.Check(j); err != nil {
		return nil, c.release(id, job.Failed, err.Error(), freeNode)
	}
	if err := m.Prepare(ctx, j); err != nil {
		if c.shuttingDown() {
			return nil, nil
		}
		if stopped, serr := c.stopped(ctx, id, m); stopped {
			return nil, serr
		}
		if errors.Is(err, machine.ErrJobInput) {
			return nil, c.release(id, job.Failed, err.Error(), freeNode)
		}
		return nil, c.bootFailed(id, fmt.Sprintf("prepare boot: %v", err), freeNode)
	}
	if h != nil {
		// Reset or kexec below: the machine stays on.
	} else if err := c.powerCycleFirst(ctx, j.Node, m); err != nil {
		if c.shuttingDown() {
			return nil, nil
		}
		if stopped, serr := c.stopped(ctx, id, m); stopped {
			return nil, serr
		}
		c.powerError(j.Node, err)
		m.Finish(j)
		return nil, c.bootFailed(id, fmt.Sprintf("power off before boot: %v", err),
			downNode(fmt.Sprintf("power off failed: %v", err), node.FaultPowerOff))
	}
	digest, kernel := bootFactsOf(m, j)
	c.baselineReading(ctx, j, m)
	onDetail := ""
	if h != nil {
		onDetail = fmt.Sprintf("%s: the machine is still on after job %d of the same user", h.kind, h.from)
	}
	if _, err := c.transition(step{id: id, to: job.PoweringOn, cause: job.CauseLifecycle, ev: job.Event{Detail: onDetail},
		edit: func(j *job.Job) { j.ImageDigest, j.KernelName = digest, kernel }}); err != nil {
		return nil, err
	}
	t0 := c.clk.Now()
	var (
		sess     machine.Session
		jumped   bool
		fellBack string
	)
	if h != nil {
		var err error
		sess, jumped, fellBack, err = c.handOn(ctx, id, m, h)
		if err != nil {
			if c.shuttingDown() {
				return nil, nil
			}
			if stopped, serr := c.stopped(ctx, id, m); stopped {
				return nil, serr
			}
			m.Finish(j)
			c.powerError(j.Node, err)
			return nil, c.bootFailed(id, err.Error(), downNode(err.Error(), node.FaultPowerOff))
		}
	}
	if h == nil || fellBack != "" { // else reset or kexec: no firmware
		var offAt time.Time // zero: off since the boot's start
		if h != nil {
			offAt = c.clk.Now() // switched off by the failed reuse only now
		}
		if err := m.PowerOn(ctx); err != nil {
			if c.shuttingDown() {
				return nil, nil
			}
			if stopped, serr := c.stopped(ctx, id, m); stopped {
				return nil, serr
			}
			c.powerError(j.Node, err)
			log.Warn("power on failed", "err", err)
			m.Finish(j)
			// The machine may have come on: the boot's bill ends on a reading
			// taken now, and what it draws from then on is unbilled.
			c.sampleFinal(ctx, j.Node)
			c.mayBeOn(j.Node, accounting.ReasonPowerOnFailed)
			// The machine may have come on all the same: the reconciler
			// switches off a node that is on with no job.
			reason := fmt.Sprintf("BMC power on: %v", err)
			return nil, c.bootFailed(id, reason, downNode(reason, ""))
		}
		c.poweredOnCold(j, offAt)
	}
	c.setPower(j.Node, power.On)
	if _, err := c.transition(step{id: id, to: job.Booting, cause: job.CauseLifecycle, ev: job.Event{Detail: fellBack}}); err != nil {
		if sess != nil {
			sess.Close()
		}
		return nil, err
	}
	var err error
	if sess == nil {
		limit := c.cfg.bootTimeout(ncfg.ExpectedBoot)
		bctx, cancel := c.withTimeout(ctx, limit, errBootTimeout)
		sess, err = m.WaitReady(bctx, c.job(id))
		if err != nil && errors.Is(context.Cause(bctx), errBootTimeout) {
			err = fmt.Errorf("node agent not ready within %s: %w", limit, err)
		}
		cancel()
	}
	if err != nil {
		if c.shuttingDown() {
			return nil, nil
		}
		if stopped, serr := c.stopped(ctx, id, m); stopped {
			return nil, serr
		}
		log.Warn("boot failed", "err", err)
		perr := c.powerOffConfirm(ctx, j.Node, m)
		m.Finish(j)
		switch {
		case perr != nil:
			c.powerError(j.Node, perr)
			return nil, c.bootFailed(id, fmt.Sprintf("%v; then BMC power off: %v", err, perr),
				downNode(fmt.Sprintf("power off failed: %v", perr), node.FaultPowerOff))
		case errors.Is(err, machine.ErrBootAborted):
			return nil, c.bootAborted(id, err.Error())
		case errors.Is(err, machine.ErrNoSignOfLife):
			return nil, c.bootFailed(id, err.Error(), downNode(err.Error(), ""))
		}
		return nil, c.bootFailed(id, err.Error(), freeNode)
	}
	boot := c.clk.Now().Sub(t0)
	how := "booted"
	switch {
	case h == nil || fellBack != "":
		if c.hooks.BootDone != nil {
			c.hooks.BootDone(j.Node, boot) // firmware boots only: a reset is no boot time
		}
	case jumped:
		how = "kexec'd"
	default:
		how = "reset"
	}
	now := c.clk.Now()
	var hostKey, addr string
	if p, ok := sess.(machine.Pinner); ok {
		hostKey, addr = p.Pin()
	}
	if _, err := c.transition(step{id: id, to: job.Running, cause: job.CauseLifecycle,
		ev:   job.Event{Detail: fmt.Sprintf("%s in %s", how, boot.Round(time.Millisecond))},
		edit: func(j *job.Job) { j.RunTime, j.HostKey, j.SSHAddr = now, hostKey, addr }}); err != nil {
		sess.Close()
		return nil, err
	}
	return sess, nil
}

// stopped handles a cancel, requeue or reconciler stop that arrived before
// the command ran: the node is switched off and the job leaves it. It
// reports whether ctx was stopped that way, and the error of that change.
func (c *Controller) stopped(ctx context.Context, id uint64, m machine.Machine) (bool, error) {
	var stop *stopCause
	if !errors.As(context.Cause(ctx), &stop) {
		return false, nil
	}
	return true, c.endOnNode(context.WithoutCancel(ctx), id, m, stop.cause, stop.outcome, 0, stop.Error())
}

// runCommand runs (or re-attaches to) the job's command under its time limit,
// appending its output to the job's files.
func (c *Controller) runCommand(ctx context.Context, j *job.Job, sess machine.Session, resumed bool) (int, error) {
	limit := time.Duration(j.Spec.TimeLimit)
	if limit <= 0 {
		limit = c.cfg.Scheduler.DefaultTimeLimit
	}
	rctx, cancel := c.withTimeout(ctx, j.RunTime.Add(limit).Sub(c.clk.Now()), errTimeLimit)
	defer cancel()
	out, err := joboutput.Open(j, filepath.Join(c.cfg.StateDir, "output"), !resumed)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	code, err := sess.Run(rctx, j, out.Stdout, out.Stderr, out.OutOff, out.ErrOff)
	if err != nil && errors.Is(context.Cause(rctx), errTimeLimit) {
		err = errTimeLimit
	}
	return code, err
}

var (
	errTimeLimit       = fmt.Errorf("time limit reached: %w", context.DeadlineExceeded)
	errBootTimeout     = fmt.Errorf("boot timeout: %w", context.DeadlineExceeded)
	errPowerOffTimeout = fmt.Errorf("power off timeout: %w", context.DeadlineExceeded)
)

// withTimeout is context.WithTimeout on the controller's clock, so time
// limits follow the same clock as everything else (and tests can move it).
func (c *Controller) withTimeout(ctx context.Context, d time.Duration, cause error) (context.Context, context.CancelFunc) {
	tctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-c.clk.After(d):
			cancel(cause)
		case <-tctx.Done():
		}
	}()
	return tctx, func() { cancel(context.Canceled) }
}

// endOnNode records the outcome (POWERING_OFF), powers the node off
// (confirmed), then gives the job its final state or queues it again.
func (c *Controller) endOnNode(ctx context.Context, id uint64, m machine.Machine, by job.Cause, outcome job.State, exit int, detail string) error {
	_, err := c.transition(step{id: id, to: job.PoweringOff, cause: by, ev: job.Event{Detail: detail},
		edit: func(j *job.Job) { j.Outcome, j.ExitCode, j.Detail = outcome, exit, detail }})
	if err != nil {
		return err
	}
	return c.finishPowerOff(ctx, id, m)
}

// finishPowerOff switches a POWERING_OFF job's node off and ends the job. A
// power-off that fails still ends the job: its outcome is known; the node
// goes DOWN and the reconciler retries the power-off until it holds.
func (c *Controller) finishPowerOff(ctx context.Context, id uint64, m machine.Machine) error {
	j := c.job(id)
	perr := c.powerOffConfirm(ctx, j.Node, m)
	if perr != nil && c.shuttingDown() {
		return nil
	}
	m.Finish(j)
	eff := freeNode
	if perr != nil {
		c.powerError(j.Node, perr)
		eff = downNode(fmt.Sprintf("power off failed: %v", perr), node.FaultPowerOff)
	}
	if j.Outcome == job.Pending {
		return c.requeue(id, j.Detail, eff)
	}
	return c.release(id, j.Outcome, j.Detail, eff)
}

// powerOffConfirm switches the node off through its BMC; drivers confirm
// the state reads off before returning.
func (c *Controller) powerOffConfirm(ctx context.Context, name string, m machine.Machine) error {
	pctx, cancel := c.withTimeout(ctx, c.cfg.PowerOffGrace+30*time.Second, errPowerOffTimeout)
	defer cancel()
	asked := c.clk.Now()
	c.offAsked(name, asked)
	if err := m.PowerOff(pctx); err != nil {
		if errors.Is(context.Cause(pctx), errPowerOffTimeout) {
			err = fmt.Errorf("%w: %w", errPowerOffTimeout, err)
		}
		// The machine stays on. The boot's bill ends where the power-off
		// was asked, not where it was found to have failed (up to the
		// grace and the timeout later, a BMC that does not answer showing
		// nothing meanwhile): what it draws from there is unbilled, as
		// power-off-failed, and the meter splits its readings there too.
		if ctx.Err() == nil {
			c.billEndsAt(name, asked)
		}
		return err
	}
	c.setPower(name, power.Off)
	c.sampleFinal(pctx, name)
	return nil
}

// release ends a job in a final state and applies eff to its node.
func (c *Controller) release(id uint64, final job.State, detail string, eff nodeEffect) error {
	now := c.clk.Now()
	_, err := c.transition(step{id: id, to: final, cause: job.CauseLifecycle, ev: job.Event{Detail: detail}, node: eff,
		edit: func(j *job.Job) { j.Reason, j.Detail, j.EndTime, j.Outcome = job.ReasonNone, detail, now, "" }})
	return err
}

// requeue puts a job that left its node back in the queue.
func (c *Controller) requeue(id uint64, detail string, eff nodeEffect) error {
	_, err := c.transition(step{id: id, to: job.Pending, cause: job.CauseLifecycle,
		ev: job.Event{Reason: job.ReasonRequeued, Detail: detail}, node: eff,
		edit: func(j *job.Job) {
			resetForQueue(j)
			j.Restarts++
			j.Reason = job.ReasonRequeued
		}})
	return err
}

// bootFailed counts a failed boot against the job: back to the queue, or
// BOOT_FAIL after MaxBootAttempts; eff says what becomes of the node.
func (c *Controller) bootFailed(id uint64, detail string, eff nodeEffect) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.jobs[id]
	now := c.clk.Now()
	attempts := j.BootAttempts + 1
	if attempts >= c.cfg.MaxBootAttempts {
		_, err := c.transitionLocked(step{id: id, to: job.BootFail, cause: job.CauseLifecycle, ev: job.Event{Detail: detail}, node: eff,
			edit: func(j *job.Job) { j.BootAttempts, j.Detail, j.EndTime, j.Outcome = attempts, detail, now, "" }})
		return err
	}
	_, err := c.transitionLocked(step{id: id, to: job.Pending, cause: job.CauseLifecycle, node: eff,
		ev: job.Event{Reason: job.ReasonBootRetry, Detail: fmt.Sprintf("boot attempt %d of %d failed on %s: %s", attempts, c.cfg.MaxBootAttempts, j.Node, detail)},
		edit: func(j *job.Job) {
			resetForQueue(j)
			j.BootAttempts, j.Reason, j.Detail = attempts, job.ReasonBootRetry, detail
		}})
	return err
}
