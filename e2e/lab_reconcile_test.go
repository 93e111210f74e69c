//go:build vlab

package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// The reconciler against real IPMI: each test ends with no machine left on,
// no job stuck, and the reconciler's actions in the node's events.

// reconcilerFlags make the lab's bmcctld retry within seconds, not minutes.
var reconcilerFlags = []string{"--reconcile-interval", "1s", "--retry-max", "8s", "--agent-timeout", "20s"}

// nodeDetail returns a node with what bmcctld recorded of it, failing on error.
func (l *lab) nodeDetail(ctx context.Context, name string) api.NodeDetail {
	l.t.Helper()
	d, err := l.client().Node(ctx, name)
	if err != nil {
		l.t.Fatalf("node %s: %v", name, err)
	}
	return d
}

func actions(evs []node.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Action)
	}
	return out
}

// untilNode polls bmcctld (another process) until cond holds for the node.
func (l *lab) untilNode(ctx context.Context, name, what string, cond func(api.NodeDetail) bool) api.NodeDetail {
	l.t.Helper()
	for {
		d := l.nodeDetail(ctx, name)
		if cond(d) {
			return d
		}
		select {
		case <-ctx.Done():
			l.t.Fatalf("node %s: gave up waiting for %s: %s %q, events %v", name, what, d.State, d.Reason, actions(d.Events))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// freeze stops the process of a pid file under the lab's directory
// (SIGSTOP): a frozen guest, or a BMC that stops answering. thaw continues
// it (a process that ended meanwhile, a guest powered off, is fine); calling
// it again does nothing.
func (l *lab) freeze(pidFile string) (thaw func()) {
	l.t.Helper()
	b, err := os.ReadFile(filepath.Join(l.dir, pidFile))
	if err != nil {
		l.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		l.t.Fatalf("%s: %v", pidFile, err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		l.t.Fatal(err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
				l.t.Errorf("thaw %s: %v", pidFile, err)
			}
		})
	}
}

// TestLabBMCStopsAnsweringMidJob: vnode1's ipmi_sim stops answering (SIGSTOP)
// while its job runs. The job still ends with its command's outcome; the
// power-off through the dead BMC fails, so the node goes DOWN saying why and
// the reconciler retries with backoff; once the BMC answers again the
// machine is off and the node back in service.
func TestLabBMCStopsAnsweringMidJob(t *testing.T) {
	l := labUp(t, 1, 600)
	work := workDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// The power-off at the job's end is what fails here: no IDLE-ON.
	l.restartDaemonT(t, ctx, append(slices.Clone(reconcilerFlags), "--idle-off", "immediate")...)
	id := l.submit(work, l.job("nobmc", "", `command = "echo up; sleep 10; echo done"`))
	l.waitFor(ctx, id, state(job.Running))
	thaw := l.freeze("node1/ipmi_sim.pid")
	defer thaw()
	d := l.waitFor(ctx, id, func(d api.JobDetail) bool { return d.State.Final() })
	if d.State != job.Completed {
		t.Errorf("job behind a dead BMC ended %s (%s), want COMPLETED: its command ran to the end", d.State, d.Detail)
	}
	n := l.untilNode(ctx, "vnode1", "a failed retry", func(n api.NodeDetail) bool {
		return slices.Contains(actions(n.Events), "power_off_retry")
	})
	if n.State != "DOWN" || !strings.Contains(n.Reason, "power off failed") {
		t.Errorf("vnode1 while its BMC is silent: %s %q, want DOWN saying the power-off failed", n.State, n.Reason)
	}
	thaw()
	n = l.untilNode(ctx, "vnode1", "back in service", func(n api.NodeDetail) bool { return n.State == "IDLE" })
	acts := actions(n.Events)
	if acts[0] != "node_down" || acts[len(acts)-1] != "node_up" {
		t.Errorf("vnode1 events %v, want node_down … node_up", acts)
	}
	if p := l.powerState(1); p != "off" {
		t.Errorf("vnode1 is %s once its BMC answers again; want off", p)
	}
}
