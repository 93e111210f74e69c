// Package joboutput writes a job's output files: their paths from the job
// file's patterns (%j, %A, %a …, relative to the submit directory), opening
// them with the job owner's file system identity so bmcctld running as root
// writes nowhere the owner could not (never through a symlink), and the
// offsets file that lets a re-attached command continue a merged output file
// where each stream stopped.
package joboutput

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

// Paths resolves the job's output and error files.
func Paths(j *job.Job) (string, string) {
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

// Check makes sure the output files can be written before a machine is
// powered on for nothing.
func Check(j *job.Job) error {
	o, e := Paths(j)
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

func openOffsets(dir string, id uint64, fresh bool) (*offsets, error) {
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

// Streams are where a job's command writes: its output file, and its error
// file or the same file with the offsets counting each stream.
type Streams struct {
	Stdout, Stderr io.Writer
	// OutOff and ErrOff are how far each stream got before (0 when fresh).
	OutOff, ErrOff int64
	closers        []func()
}

// Close closes the files.
func (s *Streams) Close() {
	for _, c := range s.closers {
		c()
	}
}

// Open opens j's output files for its command, truncated when fresh and
// appended to otherwise (a re-attached command). A merged file keeps its
// offsets in offsetsDir.
func Open(j *job.Job, offsetsDir string, fresh bool) (*Streams, error) {
	outPath, errPath := Paths(j)
	out, outOff, err := openOutput(outPath, j, fresh)
	if err != nil {
		return nil, err
	}
	s := &Streams{Stdout: out, Stderr: out, OutOff: outOff, closers: []func(){func() { out.Close() }}}
	if errPath != outPath {
		f, off, err := openOutput(errPath, j, fresh)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.closers = append(s.closers, func() { f.Close() })
		s.Stderr, s.ErrOff = f, off
		return s, nil
	}
	// One file holds both streams: its size cannot say how much of each
	// the agent sent, so the counts are kept beside the state.
	oc, err := openOffsets(offsetsDir, j.ID, fresh)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.closers = append(s.closers, oc.close)
	if !fresh {
		s.OutOff, s.ErrOff = oc.out, oc.err
	}
	s.Stdout, s.Stderr = oc.writer(out, &oc.out), oc.writer(out, &oc.err)
	return s, nil
}
