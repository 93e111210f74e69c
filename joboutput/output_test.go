package joboutput

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bmc-sched/bmc/job"
)

func TestPaths(t *testing.T) {
	for _, tc := range []struct {
		name         string
		j            job.Job
		wantO, wantE string
	}{
		{"default", job.Job{ID: 7, ArrayTaskID: -1, Cwd: "/home/u"}, "/home/u/bmc-7.out", "/home/u/bmc-7.out"},
		{"array default", job.Job{ID: 9, ArrayJobID: 5, ArrayTaskID: 3, Cwd: "/w"}, "/w/bmc-5_3.out", "/w/bmc-5_3.out"},
		{"both set", job.Job{ID: 7, ArrayTaskID: -1, Cwd: "/w", Spec: job.Spec{Output: "out/%j.o", Error: "/abs/%j.e"}}, "/w/out/7.o", "/abs/7.e"},
		{"cleaned", job.Job{ID: 7, ArrayTaskID: -1, Cwd: "/w", Spec: job.Spec{Output: "a/../b.o"}}, "/w/b.o", "/w/b.o"},
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
	j := &job.Job{ID: 3, ArrayTaskID: -1, Cwd: dir, UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
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
		j := &job.Job{ID: 1, ArrayTaskID: -1, Cwd: dir, UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Spec: job.Spec{Output: out}}
		if err := Check(j); err == nil {
			t.Errorf("%s: Check accepted it", out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "elsewhere")); err == nil {
		t.Error("the symlink's target was created")
	}
}
