package ctld

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"

	"github.com/bmc-sched/bmc/job"
	"golang.org/x/sys/unix"
)

// A job's output files: where they are, opening them with the owner's file
// system identity, and the offsets that let a re-attached command continue
// where its output stopped.

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
