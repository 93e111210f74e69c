// Package joboutput writes a job's output files: their paths from the job
// file's patterns (%j, %A, %a …, relative to the submit directory), opening
// them with the job owner's file system identity and groups so bmcctld running as root
// writes nowhere the owner could not (never through a symlink), and the
// offsets file that lets a re-attached command continue a merged output file
// where each stream stopped.
package joboutput

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/bmc-sched/bmc/internal/userfs"
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

// ErrNotRegular is an output path that names something other than a
// regular file: a FIFO would block bmcctld's writer (and once its node),
// a device would take the job's output somewhere else entirely.
var ErrNotRegular = errors.New("output goes only to a regular file or a new one")

// CheckSubmit is Check at submit, before the job has an id: the output
// paths that need no id (no % pattern) must be absent or regular files,
// looked at as the submitter. The others are checked when the job starts.
func CheckSubmit(spec *job.Spec, cwd string, uid, gid uint32) error {
	j := &job.Job{Spec: *spec, Cwd: cwd, UID: uid, GID: gid, ArrayTaskID: -1}
	if spec.Array != nil {
		j.ArrayTaskID = 0
	}
	o, e := Paths(j)
	for _, p := range []struct{ field, pattern, path string }{{"output", spec.Output, o}, {"error", spec.Error, e}} {
		if p.pattern == "" || strings.Contains(p.pattern, "%") {
			continue
		}
		var fi os.FileInfo
		err := userfs.Do(userfs.Lookup(uid, gid), func() error {
			var err error
			fi, err = os.Lstat(p.path)
			return err
		})
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p.field, err)
		}
		if !fi.Mode().IsRegular() && p.path != os.DevNull {
			return fmt.Errorf("%s: %s is %s; %w", p.field, p.path, describe(fi.Mode()), ErrNotRegular)
		}
	}
	return nil
}

// describe names a file type for an error message.
func describe(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return "not a regular file"
}

// openOutput opens an output file for appending with the job owner's file
// system identity (uid, gid and supplementary groups), so bmcctld running
// as root can write nowhere the owner could not; never through a symlink.
// O_NONBLOCK keeps the open itself from waiting for a FIFO's reader (or a
// device); anything but a regular file is refused, and only then is the
// descriptor made blocking again. fresh truncates the file.
func openOutput(path string, j *job.Job, fresh bool) (io.WriteCloser, int64, error) {
	if path == os.DevNull {
		// The one device a job may name, as with Slurm: output discarded.
		return discard{}, 0, nil
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND | unix.O_NOFOLLOW | unix.O_NONBLOCK
	var f *os.File
	err := userfs.Do(userfs.Lookup(j.UID, j.GID), func() error {
		var err error
		f, err = os.OpenFile(path, flags, 0o644)
		return err
	})
	if errors.Is(err, unix.ENXIO) {
		// What a FIFO with no reader answers to a non-blocking open.
		return nil, 0, fmt.Errorf("output file %s is a FIFO; %w", path, ErrNotRegular)
	}
	if errors.Is(err, unix.ELOOP) {
		return nil, 0, fmt.Errorf("output file %s is a symbolic link; %w", path, ErrNotRegular)
	}
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
		return nil, 0, fmt.Errorf("output file %s is %s; %w", path, describe(fi.Mode()), ErrNotRegular)
	}
	if err := clearNonblock(f); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("output file: %w", err)
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

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) Close() error                { return nil }

// clearNonblock makes a regular file's descriptor blocking again, as the
// writers expect.
func clearNonblock(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
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
