package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/bmc-sched/bmc/agent/proto"
)

// Errors of the job table, reported to the controller as a bmc-error.
var (
	ErrNoJob     = errors.New("agent: no command started")
	ErrOtherJob  = errors.New("agent: another job owns this node")
	ErrBadOffset = errors.New("agent: offset beyond output")
)

// jobTable holds the one command a booted node runs. It outlives SSH
// connections: a dropped connection only stops a follower.
type jobTable struct {
	runner Runner
	dir    string // where <job>.out and <job>.err are written
	log    *slog.Logger
	only   uint64 // the job this boot is for; 0 accepts the first one asked

	mu  sync.Mutex
	job *runningJob
}

type runningJob struct {
	id       uint64
	proc     Process // nil when the command did not start
	out, err *outputLog
	done     chan struct{} // closed when the command ended (or never started)
	code     int           // valid after done
	startErr error         // set instead of code when the command did not start
}

// start runs req unless its job already started, in which case it returns
// that run so the caller attaches to it.
func (t *jobTable) start(req proto.RunRequest) (*runningJob, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.only != 0 && req.JobID != t.only {
		return nil, fmt.Errorf("%w: booted for job %d, asked for %d", ErrOtherJob, t.only, req.JobID)
	}
	if t.job != nil {
		if t.job.id != req.JobID {
			return nil, fmt.Errorf("%w: job %d, asked for %d", ErrOtherJob, t.job.id, req.JobID)
		}
		return t.job, nil
	}
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: output dir: %w", err)
	}
	base := filepath.Join(t.dir, fmt.Sprint(req.JobID))
	out, err := newOutputLog(base + ".out")
	if err != nil {
		return nil, err
	}
	errLog, err := newOutputLog(base + ".err")
	if err != nil {
		out.finish()
		return nil, err
	}
	j := &runningJob{id: req.JobID, out: out, err: errLog, done: make(chan struct{})}
	t.job = j
	proc, err := t.runner.Start(req, out, errLog)
	if err != nil {
		j.startErr = err
		out.finish()
		errLog.finish()
		close(j.done)
		return j, nil
	}
	j.proc = proc
	go func() {
		code, err := proc.Wait()
		// Wait returns after os/exec copied all output into the logs.
		j.code, j.startErr = code, err
		out.finish()
		errLog.finish()
		close(j.done)
		if werr := errors.Join(out.failed(), errLog.failed()); werr != nil {
			t.log.Error("job output truncated on the node", "job", req.JobID, "err", werr)
		}
		t.log.Info("job command ended", "job", req.JobID, "exit_code", code)
	}()
	return j, nil
}

func (t *jobTable) current() *runningJob {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.job
}

// Status says whether the job's command runs and, once it ended, its exit
// code; bmcinit puts it into heartbeats.
func (t *jobTable) status() (running bool, exit *int) {
	j := t.current()
	if j == nil {
		return false, nil
	}
	select {
	case <-j.done:
		if j.startErr != nil {
			return false, nil
		}
		c := j.code
		return false, &c
	default:
		return true, nil
	}
}

// signal delivers sig to the running job; a job that already ended is not
// an error (the signal raced with its exit).
func (t *jobTable) signal(sig syscall.Signal) error {
	j := t.current()
	if j == nil || j.proc == nil {
		return ErrNoJob
	}
	select {
	case <-j.done:
		return nil
	default:
	}
	return j.proc.Signal(sig)
}

// kill ends the current job's command and everything it started, and
// waits until it is gone. No job, or one that ended, is no error.
func (t *jobTable) kill(ctx context.Context) error {
	j := t.current()
	if j == nil {
		return nil
	}
	if j.proc != nil {
		select {
		case <-j.done:
		default:
			if err := j.proc.Signal(syscall.SIGKILL); err != nil {
				return err
			}
		}
	}
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agent: job %d did not end after SIGKILL: %w", j.id, ctx.Err())
	}
}

// handOver makes the table belong to the next job on this machine: the
// previous job's output files go, and only jobID may start. Call it after
// kill.
func (t *jobTable) handOver(jobID uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if j := t.job; j != nil {
		select {
		case <-j.done:
		default:
			return fmt.Errorf("agent: job %d still runs", j.id)
		}
		j.out.f.Close()
		j.err.f.Close()
		base := filepath.Join(t.dir, fmt.Sprint(j.id))
		if err := errors.Join(removeIfExists(base+".out"), removeIfExists(base+".err")); err != nil {
			return fmt.Errorf("agent: drop job %d's output: %w", j.id, err)
		}
	}
	t.job, t.only = nil, jobID
	return nil
}

func removeIfExists(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// wait blocks until j ended and returns its exit code or start error.
func (t *jobTable) wait(ctx context.Context, j *runningJob) (int, error) {
	select {
	case <-j.done:
		return j.code, j.startErr
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// outputLog is a file that one writer (the command) appends to and any
// number of followers replay from an offset, waking on each write.
type outputLog struct {
	f *os.File

	mu       sync.Mutex
	size     int64
	finished bool
	wake     chan struct{}
	writeErr error
}

func newOutputLog(name string) (*outputLog, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: output log: %w", err)
	}
	return &outputLog{f: f, wake: make(chan struct{})}, nil
}

// Write appends p. A failed write (a full /run) is remembered and reported
// when the command ends, but not returned: os/exec would close the pipe and
// the job would die of SIGPIPE for a problem of the agent's.
func (l *outputLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.f.WriteAt(p, l.size)
	l.size += int64(n)
	if err != nil && l.writeErr == nil {
		l.writeErr = err
	}
	close(l.wake)
	l.wake = make(chan struct{})
	return len(p), nil
}

func (l *outputLog) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writeErr
}

func (l *outputLog) finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.finished {
		return
	}
	l.finished = true
	close(l.wake)
}

// follow copies the log from off to w until the writer finished and w has
// everything, or ctx ends. It returns the offset reached.
func (l *outputLog) follow(ctx context.Context, off int64, w io.Writer) (int64, error) {
	buf := make([]byte, 32<<10)
	for {
		l.mu.Lock()
		size, finished, wake := l.size, l.finished, l.wake
		l.mu.Unlock()
		if off > size {
			return off, fmt.Errorf("%w: %d > %d", ErrBadOffset, off, size)
		}
		if off < size {
			n := int64(len(buf))
			if size-off < n {
				n = size - off
			}
			got, err := l.f.ReadAt(buf[:n], off)
			if got > 0 {
				if _, werr := w.Write(buf[:got]); werr != nil {
					return off, werr
				}
				off += int64(got)
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return off, fmt.Errorf("agent: read output log: %w", err)
			}
			continue
		}
		if finished {
			return off, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return off, ctx.Err()
		}
	}
}
