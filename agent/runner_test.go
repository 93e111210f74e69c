package agent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bmc-sched/bmc/agent/proto"
	"github.com/bmc-sched/bmc/internal/testenv"
)

// staticBusybox finds a statically linked busybox to build a tiny image.
func staticBusybox(t *testing.T) string {
	t.Helper()
	testenv.NeedRoot(t, "chroot")
	p := testenv.NeedCommand(t, "busybox", "busybox-static")
	// A dynamically linked one cannot run in an image without libc.
	if out, err := exec.Command(p, "--list").Output(); err != nil || !bytes.Contains(out, []byte("sh\n")) {
		t.Fatalf("%s has no sh applet (%v): a static busybox (Debian busybox-static) builds the test image", p, err)
	}
	return p
}

// busyboxRoot builds an image root: dirs, a static busybox with links for
// applets (absolute targets resolve inside the image only after chroot),
// and passwd as /etc/passwd.
func busyboxRoot(t *testing.T, dirs, applets []string, passwd string) string {
	t.Helper()
	bb := staticBusybox(t)
	root := t.TempDir()
	for _, d := range append([]string{"bin", "etc"}, dirs...) {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range applets {
		if err := os.Symlink("/bin/busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestChrootRunner(t *testing.T) {
	root := busyboxRoot(t, []string{"home/app"}, []string{"sh", "id"}, "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
	if err := os.Chown(filepath.Join(root, "home/app"), 1000, 1001); err != nil {
		t.Fatal(err)
	}
	r := ExecRunner{Root: root, Chroot: true, Reaper: NewReaper()}

	run := func(req proto.RunRequest) (string, int) {
		t.Helper()
		var out, errb bytes.Buffer
		p, err := r.Start(req, &out, &errb)
		if err != nil {
			t.Fatal(err)
		}
		code, err := p.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if errb.Len() > 0 {
			t.Logf("stderr: %s", errb.String())
		}
		return out.String(), code
	}
	out, code := run(proto.RunRequest{Shell: true, User: "app", Argv: []string{`id -u; id -g; pwd; echo $HOME $USER; echo /*; exit 4`}})
	if want := "1000\n1001\n/home/app\n/home/app app\n/bin /etc /home\n"; out != want || code != 4 {
		t.Errorf("chroot run = %q, %d; want %q, 4", out, code, want)
	}
	out, code = run(proto.RunRequest{Argv: []string{"id", "-u"}})
	if out != "0\n" || code != 0 {
		t.Errorf("argv run as root = %q, %d", out, code)
	}
	out, code = run(proto.RunRequest{Shell: true, Argv: []string{"pwd"}, Dir: "etc"}) // relative: inside the image
	if out != "/etc\n" || code != 0 {
		t.Errorf("argv run as root = %q, %d", out, code)
	}
	if _, err := r.Start(proto.RunRequest{Argv: []string{"python3"}}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("missing program: %v, want exec.ErrNotFound", err)
	}
	if _, err := r.Start(proto.RunRequest{User: "ghost", Argv: []string{"id"}}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("unknown user: %v, want ErrUnknownUser", err)
	}
}

func TestJobEnv(t *testing.T) {
	got := jobEnv(map[string]string{"PATH": "/opt/bin", "A": "1", "BAD=KEY": "x", "": "y"}, User{Name: "app", Home: "/home/app"})
	want := []string{"A=1", "HOME=/home/app", "LOGNAME=app", "PATH=/opt/bin", "USER=app"}
	if len(got) != len(want) {
		t.Fatalf("env = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("env = %q, want %q", got, want)
		}
	}
}

// A command that leaves a child holding its stdout still ends, with its
// own exit code, and the child is killed with it.
func TestRunnerEndsWithTheCommandNotItsChildren(t *testing.T) {
	dir := t.TempDir()
	p, err := ExecRunner{Root: dir}.Start(proto.RunRequest{Shell: true, Argv: []string{"sleep 1000 & echo $! > child; exit 6"}}, &bytes.Buffer{}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait()
	if err != nil || code != 6 {
		t.Fatalf("Wait = %d, %v; want 6", code, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	// The child was killed with the group: its pidfd becomes readable when
	// it exits (ESRCH: already reaped by whoever inherited it).
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 10_000); err != nil || n != 1 {
		t.Fatalf("child %d still running 10 s after the command ended (poll %d, %v)", pid, n, err)
	}
}
