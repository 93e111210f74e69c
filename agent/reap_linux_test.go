package agent

import (
	"bytes"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bmc-sched/bmc/agent/proto"
)

// waitExited blocks until pid is a zombie, without reaping it.
func waitExited(t *testing.T, pid int) {
	t.Helper()
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
}

func TestReaperLeavesTrackedChildrenToWait(t *testing.T) {
	r := NewReaper()
	p, err := ExecRunner{Root: t.TempDir(), Reaper: r}.Start(proto.RunRequest{Shell: true, Argv: []string{"exit 5"}}, &bytes.Buffer{}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	waitExited(t, p.(*execProcess).cmd.Process.Pid)
	if n := r.Reap(); n != 0 {
		t.Fatalf("Reap collected %d tracked children", n)
	}
	if code, err := p.Wait(); err != nil || code != 5 {
		t.Fatalf("Wait = %d, %v; want 5 (status stolen?)", code, err)
	}

	orphan := exec.Command("true") // stands in for a re-parented grandchild
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	waitExited(t, orphan.Process.Pid)
	if n := r.Reap(); n != 1 {
		t.Fatalf("Reap collected %d, want the 1 untracked zombie", n)
	}
	if err := orphan.Wait(); err == nil {
		t.Fatal("the orphan was not reaped")
	}
}
