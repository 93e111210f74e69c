package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bmc-sched/bmc/agent/proto"
)

// TestMain lets the test binary act as the job init, as bmcinit does when
// the runner starts it as JobInitName.
func TestMain(m *testing.M) {
	if os.Args[0] == JobInitName {
		os.Exit(JobInitMain())
	}
	os.Exit(m.Run())
}

// jobRoot is an image for the job init tests, with /dev/null: a shell
// starts background jobs with stdin from it.
func jobRoot(t *testing.T) string {
	t.Helper()
	root := busyboxRoot(t, []string{"root", "tmp", "proc", "dev"}, []string{"sh", "sleep", "setsid", "cat", "ls", "echo", "grep", "["}, "root:x:0:0::/root:/bin/sh\n")
	if err := unix.Mknod(filepath.Join(root, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	return root
}

// withMarker counts the host's processes whose environment holds mark.
func withMarker(t *testing.T, mark string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && bytes.Contains(env, []byte(mark)) {
			n++
		}
	}
	return n
}

func newMark(t *testing.T) string {
	b := make([]byte, 8)
	rand.Read(b)
	return "BMC_TEST_MARK=" + hex.EncodeToString(b)
}

// TestJobInitLeavesNothingBehind: a job's background process that left the
// job's session (setsid) survives the old process-group kill but not the
// end of the job's PID namespace; the job sees only its own processes and
// the scrubbed command line.
func TestJobInitLeavesNothingBehind(t *testing.T) {
	root := jobRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmdline := filepath.Join(t.TempDir(), "cmdline")
	if err := os.WriteFile(cmdline, []byte("console=ttyS0 scrubbed\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	mark := newMark(t)
	k, v, _ := strings.Cut(mark, "=")
	r := ExecRunner{Root: root, Chroot: true, Reaper: NewReaper(), JobInit: self, Cmdline: cmdline}
	out, errb := newSyncBuffer("started\n"), newSyncBuffer("")
	p, err := r.Start(proto.RunRequest{Shell: true, Env: map[string]string{k: v}, Argv: []string{
		`setsid sleep 1000 & cat /proc/cmdline; ls /proc | grep -c '^[0-9]'; echo started; sleep 1000`}}, out, errb)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-out.seen:
	case <-time.After(30 * time.Second):
		t.Fatalf("job did not start: %q %q", out.String(), errb.String())
	}
	// The shell (which becomes its last sleep) and the escaped sleep; the
	// job init runs with an empty environment. A process in the middle of
	// execve shows no environment for a moment: look again until both show.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for n := withMarker(t, mark); n < 2; n = withMarker(t, mark) {
		select {
		case <-tick.C:
		case <-deadline:
			p.Signal(9)
			p.Wait() // leave no zombie for the reaper tests
			t.Fatalf("%d processes carry the job's marker while it runs, want at least 2: %q %q", n, out.String(), errb.String())
		}
	}
	if err := p.Signal(9); err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait()
	if err != nil || code != 128+9 {
		t.Fatalf("Wait = %d, %v; want 137", code, err)
	}
	if n := withMarker(t, mark); n != 0 {
		t.Fatalf("%d processes of the killed job are left", n)
	}
	// The job's /proc lists its namespace only: the job init (whose Go
	// threads take PIDs too), sh, the sleep, ls, grep — not the host's.
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 3 || lines[0] != "console=ttyS0 scrubbed" {
		t.Fatalf("job saw %q (stderr %q)", out.String(), errb.String())
	}
	if n, err := strconv.Atoi(lines[1]); err != nil || n > 20 {
		t.Errorf("job sees %s processes in its /proc", lines[1])
	}
}

// TestJobInitEndsWithTheCommand: the namespace ends when the command exits,
// taking its escaped background children along, and the exit code passes
// through.
func TestJobInitEndsWithTheCommand(t *testing.T) {
	root := jobRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	mark := newMark(t)
	k, v, _ := strings.Cut(mark, "=")
	r := ExecRunner{Root: root, Chroot: true, Reaper: NewReaper(), JobInit: self}
	var out, errb bytes.Buffer
	p, err := r.Start(proto.RunRequest{Shell: true, Env: map[string]string{k: v}, Argv: []string{`setsid sh -c 'echo >/tmp/escaped; exec sleep 1000' </dev/null >/dev/null 2>&1 & while [ ! -e /tmp/escaped ]; do :; done; exit 5`}}, &out, &errb)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	var code int
	go func() {
		code, err = p.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Wait did not return")
	}
	if err != nil || code != 5 {
		t.Fatalf("Wait = %d, %v; want 5 (stderr %q)", code, err, errb.String())
	}
	if n := withMarker(t, mark); n != 0 {
		t.Fatalf("%d processes outlived the job's command", n)
	}
}
