package joboutput

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/bmc-sched/bmc/job"
	"golang.org/x/sys/unix"

	"github.com/bmc-sched/bmc/internal/testenv"
)

func TestPaths(t *testing.T) {
	for _, tc := range []struct {
		name         string
		j            job.Job
		wantO, wantE string
	}{
		{"default", job.Job{ID: 7, ArrayTaskID: -1, Cwd: "/home/u", Spec: &job.Spec{}}, "/home/u/bmc-7.out", "/home/u/bmc-7.out"},
		{"array default", job.Job{ID: 9, ArrayJobID: 5, ArrayTaskID: 3, Cwd: "/w", Spec: &job.Spec{}}, "/w/bmc-5_3.out", "/w/bmc-5_3.out"},
		{"both set", job.Job{ID: 7, ArrayTaskID: -1, Cwd: "/w", Spec: &job.Spec{Output: "out/%j.o", Error: "/abs/%j.e"}}, "/w/out/7.o", "/abs/7.e"},
		{"cleaned", job.Job{ID: 7, ArrayTaskID: -1, Cwd: "/w", Spec: &job.Spec{Output: "a/../b.o"}}, "/w/b.o", "/w/b.o"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, e := Paths(&tc.j)
			if o != tc.wantO || e != tc.wantE {
				t.Errorf("Paths = %q, %q; want %q, %q", o, e, tc.wantO, tc.wantE)
			}
		})
	}
}

// A merged file's offsets say how far each stream got, so a re-attached
// command continues where each stopped; a fresh open starts over.
func TestMergedStreamsResume(t *testing.T) {
	dir := t.TempDir()
	j := &job.Job{ID: 3, ArrayTaskID: -1, Cwd: dir, UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Spec: &job.Spec{}}
	offDir := filepath.Join(dir, "state")
	s, err := Open(j, offDir, true)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(s.Stdout, "out1\n")
	io.WriteString(s.Stderr, "err\n")
	io.WriteString(s.Stdout, "out2\n")
	s.Close()

	s, err = Open(j, offDir, false)
	if err != nil {
		t.Fatal(err)
	}
	if s.OutOff != 10 || s.ErrOff != 4 {
		t.Errorf("resumed at %d, %d; want 10, 4", s.OutOff, s.ErrOff)
	}
	io.WriteString(s.Stdout, "out3\n")
	s.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "bmc-3.out"))
	if string(b) != "out1\nerr\nout2\nout3\n" {
		t.Errorf("file holds %q", b)
	}

	s, err = Open(j, offDir, true)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s.OutOff != 0 || s.ErrOff != 0 {
		t.Errorf("fresh open at %d, %d", s.OutOff, s.ErrOff)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "bmc-3.out")); len(b) != 0 {
		t.Errorf("fresh open kept %q", b)
	}
}

// Output never goes through a symlink, nor into anything but a regular file.
func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	os.Symlink(filepath.Join(dir, "elsewhere"), filepath.Join(dir, "link.out"))
	os.Mkdir(filepath.Join(dir, "adir.out"), 0o755)
	for _, out := range []string{"link.out", "adir.out", "missing/x.out"} {
		j := &job.Job{ID: 1, ArrayTaskID: -1, Cwd: dir, UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Spec: &job.Spec{Output: out}}
		if err := Check(j); err == nil {
			t.Errorf("%s: Check accepted it", out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "elsewhere")); err == nil {
		t.Error("the symlink's target was created")
	}
}

// A FIFO or a device as the output file never blocks the open, whether or
// not something reads the FIFO: the job is refused with a reason, at
// submit when the path is already there and when the job starts otherwise.
func TestSpecialFilesRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.out")
	if err := unix.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	read := filepath.Join(dir, "read.out")
	if err := unix.Mkfifo(read, 0o666); err != nil {
		t.Fatal(err)
	}
	// A reader that never reads: a blocking open for writing would then
	// succeed and the first big write would hang.
	r, err := os.OpenFile(read, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	me := func(out string) *job.Job {
		return &job.Job{ID: 1, ArrayTaskID: -1, Cwd: dir, UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Spec: &job.Spec{Output: out}}
	}
	for _, tc := range []struct{ out, want string }{
		{"fifo.out", fifo + " is a FIFO; output goes only to a regular file or a new one"},
		{"read.out", read + " is a FIFO; output goes only to a regular file or a new one"},
		{"/dev/zero", "/dev/zero is a device; output goes only to a regular file or a new one"},
	} {
		j := me(tc.out)
		err := Check(j)
		if !errors.Is(err, ErrNotRegular) || err.Error() != "output file "+tc.want {
			t.Errorf("Check(%s) = %v", tc.out, err)
		}
		if _, err := Open(j, filepath.Join(dir, "state"), true); !errors.Is(err, ErrNotRegular) {
			t.Errorf("Open(%s) = %v", tc.out, err)
		}
		err = CheckSubmit(j.Spec, dir, j.UID, j.GID)
		if !errors.Is(err, ErrNotRegular) || err.Error() != "output: "+tc.want {
			t.Errorf("CheckSubmit(%s) = %v", tc.out, err)
		}
	}
	// Not there yet, a regular file, a pattern known only once the job has
	// an id, and /dev/null are fine at submit.
	write := filepath.Join(dir, "plain.out")
	os.WriteFile(write, nil, 0o644)
	for _, out := range []string{"new.out", "plain.out", "fifo-%j.out", os.DevNull} {
		if err := CheckSubmit(&job.Spec{Output: out}, dir, uint32(os.Getuid()), uint32(os.Getgid())); err != nil {
			t.Errorf("CheckSubmit(%s) = %v", out, err)
		}
	}
	s, err := Open(me(os.DevNull), filepath.Join(dir, "state"), true)
	if err != nil {
		t.Fatalf("/dev/null: %v", err)
	}
	io.WriteString(s.Stdout, "gone\n")
	s.Close()
}

// The descriptor of a regular output file is blocking again after the
// non-blocking open.
func TestRegularFileBlocking(t *testing.T) {
	dir := t.TempDir()
	f, _, err := openOutput(filepath.Join(dir, "x.out"), &job.Job{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Spec: &job.Spec{}}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fl, err := unix.FcntlInt(f.(*os.File).Fd(), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fl&unix.O_NONBLOCK != 0 {
		t.Error("the output file is still O_NONBLOCK")
	}
}

// Written as the user, output is checked against the user's groups only:
// a directory that root's supplementary groups open is closed to a user
// who is not in them. Runs as root (CI does).
func TestWritesWithTheUsersGroups(t *testing.T) {
	testenv.NeedRoot(t, "switch identity")
	// syscall's Setgroups applies to every thread of the process.
	old, err := syscall.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setgroups([]int{0, 4242}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setgroups(old) })
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	group := filepath.Join(dir, "g")
	os.Mkdir(group, 0o770)
	os.Chmod(group, 0o770)
	os.Chown(group, 0, 4242)
	const nobody = 65534
	j := &job.Job{ID: 1, ArrayTaskID: -1, Cwd: group, UID: nobody, GID: nobody, Spec: &job.Spec{}}
	if err := Check(j); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("uid %d wrote with bmcctld's group 4242: %v", nobody, err)
	}
	os.Chown(group, 0, nobody)
	if err := Check(j); err != nil {
		t.Errorf("uid %d in its own group: %v", nobody, err)
	}
}
