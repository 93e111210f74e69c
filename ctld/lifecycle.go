package ctld

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
	"golang.org/x/sys/unix"
)

// Why a job's life cycle was interrupted, carried as the context's cause.
type stopCause struct {
	outcome job.State // Cancelled, or Pending for a requeue
	by      string
}

func (s *stopCause) Error() string {
	if s.outcome == job.Pending {
		return "requeued by " + s.by
	}
	return "cancelled by " + s.by
}

// startLocked runs j's life cycle in its own goroutine.
func (c *Controller) startLocked(j *job.Job, recovered bool) {
	ctx, cancel := context.WithCancelCause(c.runCtx)
	c.running[j.ID] = &lifecycle{cancel: cancel}
	if recovered {
		c.resumeRecordingLocked(j)
	}
	c.runGroup.Add(1)
	go func() {
		defer c.runGroup.Done()
		defer cancel(nil)
		c.drive(ctx, j.ID, recovered)
		c.mu.Lock()
		delete(c.running, j.ID)
		c.mu.Unlock()
		c.Wake()
	}()
}

func (c *Controller) job(id uint64) *job.Job {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.jobs[id]
}

func (c *Controller) machine(name string) (Machine, node.Config) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := c.nodes[name]
	return n.m, n.Config
}

// shuttingDown reports whether ctx ended because bmcctld stops: then the
// life cycle leaves every record as it is, for the next start to reconcile.
func (c *Controller) shuttingDown() bool { return c.runCtx.Err() != nil }

// drive moves one job from where it is to a final state (or back to the queue).
func (c *Controller) drive(ctx context.Context, id uint64, recovered bool) {
	j := c.job(id)
	m, ncfg := c.machine(j.Node)
	log := c.log.With("job", id, "node", j.Node)
	var (
		sess    Session
		resumed bool
		err     error
	)
	if recovered {
		switch j.State {
		case job.PoweringOn, job.Booting:
			// The boot's tokens and agent connection died with the old
			// process; a clean power cycle is the only trustworthy start.
			log.Info("recovering a job that was booting: power-cycling its node")
			if err := c.powerOffConfirm(ctx, j.Node, m); err != nil {
				if c.shuttingDown() {
					return
				}
				c.bootFailed(id, fmt.Sprintf("recovery power off: %v", err), true)
				return
			}
			if j, err = c.transition(id, job.Event{Reason: job.ReasonRecovered, Detail: "controller restarted during boot; booting again"},
				func(j *job.Job) error { j.State = job.Allocated; j.Boot++; return nil }); err != nil {
				log.Error("recovery", "err", err)
				return
			}
		case job.Running:
			sess, err = m.Resume(ctx, j)
			if err != nil {
				if c.shuttingDown() {
					return
				}
				log.Warn("cannot reconnect to a running job after restart", "err", err)
				c.endOnNode(ctx, id, m, job.NodeFail, j.ExitCode, fmt.Sprintf("after controller restart: %v", err))
				return
			}
			resumed = true
		case job.PoweringOff:
			c.finishPowerOff(ctx, id, m)
			return
		}
	}

	if !resumed {
		if sess, err = c.boot(ctx, id, m, ncfg); err != nil || sess == nil {
			return
		}
	}
	defer sess.Close()
	j = c.job(id)
	exit, runErr := c.runCommand(ctx, j, sess, resumed)
	if c.shuttingDown() {
		return
	}
	outcome, detail := job.Completed, ""
	var stop *stopCause
	switch {
	case errors.As(context.Cause(ctx), &stop):
		outcome, detail = stop.outcome, stop.Error()
	case errors.Is(runErr, errTimeLimit):
		outcome, detail = job.Timeout, fmt.Sprintf("time limit %s reached", j.Spec.TimeLimit)
	case runErr != nil:
		outcome, detail = job.NodeFail, runErr.Error()
	case exit != 0:
		outcome, detail = job.Failed, fmt.Sprintf("exit status %d", exit)
	}
	if outcome != job.Pending {
		if err := sess.PowerOff(ctx); err != nil && !errors.Is(err, power.ErrUnsupported) {
			log.Info("in-band power off failed; the BMC will do it", "err", err)
		}
	}
	c.endOnNode(context.WithoutCancel(ctx), id, m, outcome, exit, detail)
}

// boot takes an ALLOCATED job to RUNNING-ready: prepare, power on, wait for
// the agent. It returns a nil session when the job left the node.
func (c *Controller) boot(ctx context.Context, id uint64, m Machine, ncfg node.Config) (Session, error) {
	j := c.job(id)
	log := c.log.With("job", id, "node", j.Node)
	if err := c.checkOutput(j); err != nil {
		c.releaseNode(id, job.Failed, job.ReasonNone, err.Error())
		return nil, err
	}
	if err := m.Prepare(ctx, j); err != nil {
		switch {
		case c.shuttingDown():
		case c.stopped(ctx, id, m):
		case errors.Is(err, ErrJobInput):
			c.releaseNode(id, job.Failed, job.ReasonNone, err.Error())
		default:
			c.bootFailed(id, fmt.Sprintf("prepare boot: %v", err), false)
		}
		return nil, err
	}
	digest, kernel := bootFactsOf(m, j)
	c.baselineReading(ctx, j, m)
	if _, err := c.transition(id, job.Event{}, func(j *job.Job) error {
		j.State, j.ImageDigest, j.KernelName = job.PoweringOn, digest, kernel
		return nil
	}); err != nil {
		return nil, err
	}
	t0 := c.clk.Now()
	if err := m.PowerOn(ctx); err != nil {
		c.powerError(j.Node, err)
		if c.shuttingDown() || c.stopped(ctx, id, m) {
			return nil, err
		}
		log.Warn("power on failed", "err", err)
		m.Finish(j)
		c.bootFailedNodeDown(id, j.Node, fmt.Sprintf("BMC power on: %v", err))
		return nil, err
	}
	c.setPower(j.Node, power.On)
	if _, err := c.transition(id, job.Event{}, func(j *job.Job) error { j.State = job.Booting; return nil }); err != nil {
		return nil, err
	}
	limit := c.cfg.bootTimeout(ncfg.ExpectedBoot)
	bctx, cancel := c.withTimeout(ctx, limit, errBootTimeout)
	sess, err := m.WaitReady(bctx, c.job(id))
	if err != nil && errors.Is(context.Cause(bctx), errBootTimeout) {
		err = fmt.Errorf("node agent not ready within %s: %w", limit, err)
	}
	cancel()
	if err != nil {
		if c.shuttingDown() || c.stopped(ctx, id, m) {
			return nil, err
		}
		log.Warn("boot failed", "err", err)
		perr := c.powerOffConfirm(ctx, j.Node, m)
		m.Finish(j)
		switch {
		case perr != nil:
			c.bootFailedNodeDown(id, j.Node, fmt.Sprintf("%v; then BMC power off: %v", err, perr))
		case errors.Is(err, ErrBootAborted):
			c.bootAborted(id, err.Error())
		case errors.Is(err, ErrNoSignOfLife):
			c.bootFailedNodeDown(id, j.Node, err.Error())
		default:
			c.bootFailed(id, err.Error(), false)
		}
		return nil, err
	}
	boot := c.clk.Now().Sub(t0)
	if c.hooks.BootDone != nil {
		c.hooks.BootDone(j.Node, boot)
	}
	now := c.clk.Now()
	var hostKey, addr string
	if p, ok := sess.(interface{ Pin() (string, string) }); ok {
		hostKey, addr = p.Pin()
	}
	if _, err := c.transition(id, job.Event{Detail: fmt.Sprintf("booted in %s", boot.Round(time.Millisecond))},
		func(j *job.Job) error {
			j.State, j.RunTime, j.HostKey, j.SSHAddr = job.Running, now, hostKey, addr
			return nil
		}); err != nil {
		sess.Close()
		return nil, err
	}
	return sess, nil
}

// stopped handles a cancel or requeue that arrived before the command ran:
// the node is switched off and the job leaves it. It reports whether ctx was
// stopped that way.
func (c *Controller) stopped(ctx context.Context, id uint64, m Machine) bool {
	var stop *stopCause
	if !errors.As(context.Cause(ctx), &stop) {
		return false
	}
	c.endOnNode(context.WithoutCancel(ctx), id, m, stop.outcome, 0, stop.Error())
	return true
}

// runCommand runs (or re-attaches to) the job's command under its time limit,
// appending its output to the job's files.
func (c *Controller) runCommand(ctx context.Context, j *job.Job, sess Session, resumed bool) (int, error) {
	limit := time.Duration(j.Spec.TimeLimit)
	if limit <= 0 {
		limit = c.cfg.Scheduler.DefaultTimeLimit
	}
	rctx, cancel := c.withTimeout(ctx, j.RunTime.Add(limit).Sub(c.clk.Now()), errTimeLimit)
	defer cancel()
	outPath, errPath := outputPaths(j)
	out, outOff, err := openOutput(outPath, j, !resumed)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	var stdout, stderr io.Writer = out, out
	errOff := int64(0)
	if errPath != outPath {
		f, off, err := openOutput(errPath, j, !resumed)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		stderr, errOff = f, off
	} else {
		// One file holds both streams: its size cannot say how much of
		// each the agent sent, so the counts are kept beside the state.
		oc, err := c.openOffsets(j.ID, !resumed)
		if err != nil {
			return 0, err
		}
		defer oc.close()
		if resumed {
			outOff, errOff = oc.out, oc.err
		}
		stdout, stderr = oc.writer(out, &oc.out), oc.writer(out, &oc.err)
	}
	code, err := sess.Run(rctx, j, stdout, stderr, outOff, errOff)
	if err != nil && errors.Is(context.Cause(rctx), errTimeLimit) {
		err = errTimeLimit
	}
	return code, err
}

var (
	errTimeLimit   = fmt.Errorf("time limit reached: %w", context.DeadlineExceeded)
	errBootTimeout = fmt.Errorf("boot timeout: %w", context.DeadlineExceeded)
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

// endOnNode powers the node off (confirmed), then gives the job its final
// state (or queues it again) and frees the node.
func (c *Controller) endOnNode(ctx context.Context, id uint64, m Machine, outcome job.State, exit int, detail string) {
	_, err := c.transition(id, job.Event{Detail: detail}, func(j *job.Job) error {
		j.State, j.Outcome, j.ExitCode, j.Detail = job.PoweringOff, outcome, exit, detail
		return nil
	})
	if err != nil {
		c.log.Error("job → POWERING_OFF", "job", id, "err", err)
		return
	}
	c.finishPowerOff(ctx, id, m)
}

func (c *Controller) finishPowerOff(ctx context.Context, id uint64, m Machine) {
	j := c.job(id)
	perr := c.powerOffConfirm(ctx, j.Node, m)
	if perr != nil && c.shuttingDown() {
		return
	}
	m.Finish(j)
	nodeReason := ""
	if perr != nil {
		c.powerError(j.Node, perr)
		nodeReason = fmt.Sprintf("BMC power off: %v", perr)
	}
	if j.Outcome == job.Pending {
		c.requeue(id, j.Detail, nodeReason)
		return
	}
	c.releaseNodeWith(id, j.Outcome, job.ReasonNone, j.Detail, nodeReason)
}

// powerOffConfirm switches the node off through its BMC; drivers confirm
// the state reads off before returning.
func (c *Controller) powerOffConfirm(ctx context.Context, name string, m Machine) error {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.PowerOffGrace+30*time.Second)
	defer cancel()
	if err := m.PowerOff(pctx); err != nil {
		return err
	}
	c.setPower(name, power.Off)
	c.sampleFinal(pctx, name)
	return nil
}

// releaseNode ends a job that never powered its node on.
func (c *Controller) releaseNode(id uint64, final job.State, reason job.Reason, detail string) {
	c.releaseNodeWith(id, final, reason, detail, "")
}

// releaseNodeWith ends the job and frees its node, or marks the node DOWN
// when nodeReason says something went wrong with it.
func (c *Controller) releaseNodeWith(id uint64, final job.State, reason job.Reason, detail, nodeReason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.jobs[id]
	now := c.clk.Now()
	n := c.nodeCopyLocked(j.Node)
	c.freeNode(n, now, nodeReason)
	_, err := c.transitionLocked(id, job.Event{Reason: reason, Detail: detail, Node: j.Node}, func(j *job.Job) error {
		j.State, j.Reason, j.Detail, j.EndTime, j.Outcome = final, reason, detail, now, ""
		return nil
	}, n)
	if err != nil {
		c.log.Error("end job", "job", id, "err", err)
	}
}

func (c *Controller) freeNode(n *node.Node, now time.Time, nodeReason string) {
	n.Job, n.Since = 0, now
	if nodeReason != "" {
		n.State, n.Reason = node.Down, nodeReason
		c.log.Warn("node down", "node", n.Name, "reason", nodeReason)
	} else {
		n.State = node.Idle
	}
}

// requeue puts a job that left its node back in the queue.
func (c *Controller) requeue(id uint64, detail, nodeReason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.jobs[id]
	n := c.nodeCopyLocked(j.Node)
	c.freeNode(n, c.clk.Now(), nodeReason)
	_, err := c.transitionLocked(id, job.Event{Reason: job.ReasonRequeued, Detail: detail, Node: j.Node}, func(j *job.Job) error {
		resetForQueue(j)
		j.Restarts++
		j.Reason = job.ReasonRequeued
		return nil
	}, n)
	if err != nil {
		c.log.Error("requeue", "job", id, "err", err)
	}
}

func resetForQueue(j *job.Job) {
	j.State, j.Node, j.Outcome, j.ExitCode, j.HostKey, j.SSHAddr = job.Pending, "", "", 0, "", ""
	j.StartTime, j.RunTime, j.EndTime = time.Time{}, time.Time{}, time.Time{}
}

// bootFailed counts a failed boot against the job: back to the queue, or
// BOOT_FAIL after MaxBootAttempts. The node is off and free (or DOWN when
// nodeDown is set).
func (c *Controller) bootFailed(id uint64, detail string, nodeDown bool) {
	nodeReason := ""
	if nodeDown {
		nodeReason = detail
	}
	c.bootFailedWith(id, detail, nodeReason)
}

func (c *Controller) bootFailedNodeDown(id uint64, nodeName, detail string) {
	c.bootFailedWith(id, detail, detail)
}

func (c *Controller) bootFailedWith(id uint64, detail, nodeReason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.jobs[id]
	now := c.clk.Now()
	n := c.nodeCopyLocked(j.Node)
	c.freeNode(n, now, nodeReason)
	attempts := j.BootAttempts + 1
	if attempts >= c.cfg.MaxBootAttempts {
		_, err := c.transitionLocked(id, job.Event{State: job.BootFail, Detail: detail, Node: j.Node}, func(j *job.Job) error {
			j.State, j.BootAttempts, j.Detail, j.EndTime, j.Outcome = job.BootFail, attempts, detail, now, ""
			return nil
		}, n)
		if err != nil {
			c.log.Error("boot fail", "job", id, "err", err)
		}
		return
	}
	_, err := c.transitionLocked(id, job.Event{Reason: job.ReasonBootRetry, Detail: fmt.Sprintf("boot attempt %d of %d failed on %s: %s", attempts, c.cfg.MaxBootAttempts, j.Node, detail), Node: j.Node},
		func(j *job.Job) error {
			resetForQueue(j)
			j.BootAttempts, j.Reason, j.Detail = attempts, job.ReasonBootRetry, detail
			return nil
		}, n)
	if err != nil {
		c.log.Error("boot retry", "job", id, "err", err)
	}
}

// outputPaths resolves the job's output and error files.
func outputPaths(j *job.Job) (string, string) {
	out := j.Spec.Output
	if out == "" {
		out = "bmc-%j.out"
		if j.IsArrayTask() {
			out = "bmc-%A_%a.out"
		}
	}
	errp := j.Spec.Error
	if errp == "" {
		errp = out
	}
	abs := func(p string) string {
		p = job.ExpandPath(p, j)
		if !filepath.IsAbs(p) {
			p = filepath.Join(j.Cwd, p)
		}
		return filepath.Clean(p)
	}
	return abs(out), abs(errp)
}

// checkOutput makes sure the output files can be written before a machine
// is powered on for nothing.
func (c *Controller) checkOutput(j *job.Job) error {
	o, e := outputPaths(j)
	for _, p := range []string{o, e} {
		f, _, err := openOutput(p, j, false)
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}

// openOutput opens an output file for appending with the job owner's file
// system identity, so bmcctld running as root can write nowhere the owner
// could not; never through a symlink. fresh truncates the file.
func openOutput(path string, j *job.Job, fresh bool) (*os.File, int64, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND | syscall.O_NOFOLLOW
	f, err := openAs(path, flags, j.UID, j.GID)
	if err != nil {
		return nil, 0, fmt.Errorf("output file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("output file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("output file %s is not a regular file", path)
	}
	if fresh {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("output file: %w", err)
		}
		return f, 0, nil
	}
	return f, fi.Size(), nil
}

// openAs opens path with uid/gid as the file system identity when bmcctld
// runs as root. setfsuid is per thread, hence the locked OS thread.
func openAs(path string, flags int, uid, gid uint32) (*os.File, error) {
	if os.Geteuid() != 0 || uid == 0 {
		return os.OpenFile(path, flags, 0o644)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	unix.Setfsgid(int(gid))
	unix.Setfsuid(int(uid))
	defer func() {
		unix.Setfsuid(0)
		unix.Setfsgid(0)
	}()
	return os.OpenFile(path, flags, 0o644)
}

// offsets counts how far each stream of a merged output file got, in a
// 16-byte file under the state dir, updated after every write. A crash
// between a write and its count repeats at most that write's bytes.
type offsets struct {
	mu       sync.Mutex
	f        *os.File
	out, err int64
}

func (c *Controller) openOffsets(id uint64, fresh bool) (*offsets, error) {
	dir := filepath.Join(c.cfg.StateDir, "output")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%d.offsets", id)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	o := &offsets{f: f}
	if fresh {
		return o, o.save()
	}
	var b [16]byte
	if n, _ := f.ReadAt(b[:], 0); n == 16 {
		o.out, o.err = int64(binary.BigEndian.Uint64(b[:8])), int64(binary.BigEndian.Uint64(b[8:]))
	}
	return o, nil
}

func (o *offsets) save() error {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(o.out))
	binary.BigEndian.PutUint64(b[8:], uint64(o.err))
	_, err := o.f.WriteAt(b[:], 0)
	return err
}

func (o *offsets) close() { o.f.Close() }

func (o *offsets) writer(w io.Writer, n *int64) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		o.mu.Lock()
		defer o.mu.Unlock()
		k, err := w.Write(p)
		*n += int64(k)
		if serr := o.save(); err == nil {
			err = serr
		}
		return k, err
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
