package ctld

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
)

func TestJobRunsThroughItsLifeCycle(t *testing.T) {
	h := newHarness(t, 2)
	id := h.submit(alice, simSpec(5*time.Second, 0))[0]
	j := h.waitState(id, job.Completed)
	want := "PENDING ALLOCATED POWERING_ON BOOTING RUNNING POWERING_OFF COMPLETED"
	if got := states(h.events(id)); got != want {
		t.Fatalf("events = %s\nwant     %s", got, want)
	}
	if j.RunTime.IsZero() || j.EndTime.Sub(j.RunTime) < 5*time.Second {
		t.Errorf("ran from %s to %s; want at least the 5s runtime", j.RunTime, j.EndTime)
	}
	out, err := os.ReadFile(filepath.Join(h.dir, fmt.Sprintf("bmc-%d.out", id)))
	if err != nil || !strings.Contains(string(out), "[simulated]") {
		t.Errorf("output file: %q, %v", out, err)
	}
	if n := h.node(j.Node); n.State != node.Idle || n.Job != 0 {
		t.Errorf("node after the job: %+v", n)
	}
	st, _ := h.machines[0].Machine.PowerState(context.Background())
	st2, _ := h.machines[1].Machine.PowerState(context.Background())
	if st != power.Off || st2 != power.Off {
		t.Errorf("machines left %s/%s, want both off", st, st2)
	}
}

func TestExitCodesAndTimeLimit(t *testing.T) {
	h := newHarness(t, 2)
	failed := h.submit(alice, simSpec(time.Second, 3))[0]
	long := simSpec(time.Hour, 0)
	long.TimeLimit = job.Duration(10 * time.Second)
	timeout := h.submit(alice, long)[0]
	if j := h.waitState(failed, job.Failed); j.ExitCode != 3 {
		t.Errorf("exit code = %d, want 3", j.ExitCode)
	}
	j := h.waitState(timeout, job.Timeout)
	if d := j.EndTime.Sub(j.RunTime); d < 10*time.Second || d > 12*time.Second {
		t.Errorf("timed out after %s of a 10s limit", d)
	}
}

func TestCancelInEveryPhase(t *testing.T) {
	h := newHarness(t, 1)
	running := h.submit(alice, simSpec(time.Hour, 0))[0]
	queued := h.submit(alice, simSpec(time.Second, 0))[0]
	h.waitState(running, job.Booting)
	if _, err := h.c.Act(alice, fmt.Sprint(queued), api.ActionCancel); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Act(alice, fmt.Sprint(running), api.ActionCancel); err != nil {
		t.Fatal(err)
	}
	h.waitState(running, job.Cancelled)
	if h.job(queued).State != job.Cancelled {
		t.Errorf("queued job is %s", h.job(queued).State)
	}
	if st, _ := h.machines[0].Machine.PowerState(context.Background()); st != power.Off {
		t.Errorf("cancelled booting job left its machine %s", st)
	}
	if _, err := h.c.Act(alice, fmt.Sprint(running), api.ActionCancel); !errors.Is(err, ErrConflict) {
		t.Errorf("cancel of an ended job: %v, want ErrConflict", err)
	}
}

func TestOnlyTheOwnerOrAnAdminMayAct(t *testing.T) {
	h := newHarness(t, 1)
	ids := h.submit(alice, func() job.Spec { s := simSpec(time.Second, 0); s.Hold = true; return s }())
	before := h.job(ids[0])
	for _, action := range []string{api.ActionCancel, api.ActionRelease, api.ActionHold, api.ActionRequeue} {
		_, err := h.c.Act(bob, fmt.Sprint(ids[0]), action)
		if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "alice") {
			t.Errorf("bob %s alice's job: err = %v", action, err)
		}
	}
	if after := h.job(ids[0]); after != before {
		t.Errorf("a refused action changed the job: %+v", after)
	}
	if len(h.events(ids[0])) != 1 {
		t.Errorf("a refused action left events: %v", states(h.events(ids[0])))
	}
	if _, err := h.c.Act(root, fmt.Sprint(ids[0]), api.ActionRelease); err != nil {
		t.Fatalf("root release: %v", err)
	}
	h.waitState(ids[0], job.Completed)
	if err := h.c.NodeAction(alice, "sim001", api.ActionDrain, "x"); !errors.Is(err, ErrForbidden) {
		t.Errorf("non-admin drain: %v", err)
	}
}

func TestHoldReleaseAndAdminHold(t *testing.T) {
	h := newHarness(t, 1)
	blocker := h.submit(alice, simSpec(time.Hour, 0))[0]
	id := h.submit(alice, simSpec(time.Second, 0))[0]
	h.waitState(blocker, job.Running)
	if _, err := h.c.Act(root, fmt.Sprint(id), api.ActionHold); err != nil {
		t.Fatal(err)
	}
	if j := h.job(id); j.State != job.Held || j.Reason != job.ReasonHeldAdmin {
		t.Fatalf("after admin hold: %s %s", j.State, j.Reason)
	}
	if _, err := h.c.Act(alice, fmt.Sprint(id), api.ActionRelease); !errors.Is(err, ErrForbidden) {
		t.Fatalf("owner release of an admin hold: %v", err)
	}
	if _, err := h.c.Act(root, fmt.Sprint(id), api.ActionRelease); err != nil {
		t.Fatal(err)
	}
	if j := h.job(id); j.State != job.Pending {
		t.Fatalf("after release: %s", j.State)
	}
}

func TestArrayLimitAndDependencies(t *testing.T) {
	h := newHarness(t, 4)
	arr := simSpec(2*time.Second, 0)
	a, err := job.ParseArray("1-6%2")
	if err != nil {
		t.Fatal(err)
	}
	arr.Array = &a
	tasks := h.submit(alice, arr)
	if len(tasks) != 6 {
		t.Fatalf("%d tasks", len(tasks))
	}
	dep := simSpec(time.Second, 0)
	dep.DependsOn = []job.Dependency{{Type: job.AfterOK, JobID: tasks[0]}} // the array's id: all tasks
	after := h.submit(alice, dep)[0]
	never := simSpec(time.Second, 0)
	never.DependsOn = []job.Dependency{{Type: job.AfterNotOK, JobID: tasks[0]}}
	neverID := h.submit(alice, never)[0]

	maxActive := 0
	h.until("array and dependent job to finish", func() bool {
		active := 0
		for _, id := range tasks {
			if h.job(id).State.Active() {
				active++
			}
		}
		maxActive = max(maxActive, active)
		if st := h.job(after).State; st.Active() {
			for _, id := range tasks {
				if !h.job(id).State.Final() {
					t.Fatalf("dependent job started while task %d is %s", id, h.job(id).State)
				}
			}
		}
		return h.job(after).State == job.Completed
	})
	if maxActive > 2 {
		t.Errorf("%d tasks active at once; limit 2", maxActive)
	}
	h.until("reason of the never-satisfied job", func() bool {
		h.c.mu.RLock()
		defer h.c.mu.RUnlock()
		return h.c.reasons[neverID] == job.ReasonDependencyNeverSatisfied
	})
	d, err := h.c.JobDetail(fmt.Sprintf("%d_3", tasks[0]))
	if err != nil || d.ID != tasks[2] {
		t.Errorf("JobDetail(%d_3) = %d, %v; want job %d", tasks[0], d.ID, err, tasks[2])
	}
}

// failingMachine refuses to power on, like a BMC with a wrong password.
type failingMachine struct {
	machine.Machine
	mu    sync.Mutex
	calls int
}

func (f *failingMachine) PowerOn(ctx context.Context) error {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	return fmt.Errorf("ipmitool: %w", power.ErrAuth)
}

func (f *failingMachine) PowerState(ctx context.Context) (power.State, error) {
	return power.Unknown, fmt.Errorf("ipmitool: %w", power.ErrAuth)
}

func TestBadBMCPutsNodeDownAndJobRunsElsewhere(t *testing.T) {
	bad := &failingMachine{}
	h := newHarness(t, 2, func(h *harness) {
		h.wrap = func(name string, m machine.Machine) machine.Machine {
			if name == "sim001" {
				bad.Machine = m
				return bad
			}
			return m
		}
	})
	h.until("sim001 to go down at start", func() bool { return h.node("sim001").State == node.Down })
	if r := h.node("sim001").Reason; !strings.Contains(r, "credentials") {
		t.Errorf("down reason %q does not say why", r)
	}
	id := h.submit(alice, simSpec(time.Second, 0))[0]
	j := h.waitState(id, job.Completed)
	if j.Node != "sim002" {
		t.Errorf("ran on %s", j.Node)
	}
}

func TestBootFailAfterMaxAttempts(t *testing.T) {
	h := newHarness(t, 1, func(h *harness) {
		h.cfg.MaxBootAttempts = 2
		h.wrap = func(name string, m machine.Machine) machine.Machine { return neverBoots{m} }
	})
	id := h.submit(alice, simSpec(time.Second, 0))[0]
	j := h.waitState(id, job.BootFail)
	if j.BootAttempts != 2 {
		t.Errorf("boot attempts = %d, want 2", j.BootAttempts)
	}
	if n := h.node("sim001"); n.State != node.Idle {
		t.Errorf("node after a job's boot failures: %s %s", n.State, n.Reason)
	}
	if got := strings.Count(states(h.events(id)), "BOOTING"); got != 2 {
		t.Errorf("booted %d times, want 2", got)
	}
}

// neverBoots powers on but its agent never reports ready (a broken kernel).
type neverBoots struct{ machine.Machine }

func (n neverBoots) WaitReady(ctx context.Context, j *job.Job) (machine.Session, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestRestartWhileRunningFinishesOnce(t *testing.T) {
	h := newHarness(t, 2)
	id := h.submit(alice, simSpec(30*time.Second, 0))[0]
	waiting := h.submit(alice, simSpec(time.Second, 0))[0]
	booting := h.submit(alice, simSpec(time.Second, 0))[0]
	h.waitState(id, job.Running)
	h.until("second job to boot", func() bool { return h.job(waiting).State == job.Booting })
	h.restart()
	h.waitState(id, job.Completed)
	h.waitState(waiting, job.Completed)
	h.waitState(booting, job.Completed)
	if n := strings.Count(states(h.events(id)), "RUNNING"); n != 1 {
		t.Errorf("job ran %d times across the restart: %s", n, states(h.events(id)))
	}
	if j := h.job(id); j.EndTime.Sub(j.RunTime) < 30*time.Second {
		t.Errorf("job ended %s after it started; its command runs 30s", j.EndTime.Sub(j.RunTime))
	}
}

func TestRequeueRunningJob(t *testing.T) {
	h := newHarness(t, 1)
	id := h.submit(alice, simSpec(20*time.Second, 0))[0]
	h.waitState(id, job.Running)
	if _, err := h.c.Act(alice, fmt.Sprint(id), api.ActionRequeue); err != nil {
		t.Fatal(err)
	}
	j := h.waitState(id, job.Completed)
	if j.Restarts != 1 {
		t.Errorf("restarts = %d", j.Restarts)
	}
	if n := strings.Count(states(h.events(id)), "RUNNING"); n != 2 {
		t.Errorf("RUNNING %d times; want 2 (before and after the requeue)", n)
	}
}

func TestSubmitRejectsWhatCanNeverRun(t *testing.T) {
	h := newHarness(t, 2)
	for name, mutate := range map[string]func(*job.Spec){
		"too many cores": func(s *job.Spec) { s.Cores = 1024 },
		"unknown arch":   func(s *job.Spec) { s.Arch = "riscv64" },
		"missing dep":    func(s *job.Spec) { s.DependsOn = []job.Dependency{{Type: job.AfterOK, JobID: 999}} },
	} {
		s := simSpec(time.Second, 0)
		mutate(&s)
		_, err := h.c.Submit(context.Background(), alice, api.SubmitRequest{Spec: s})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if jobs, _ := h.c.ListJobs(Filter{}); len(jobs) != 0 {
		t.Errorf("rejected submits queued %d jobs", len(jobs))
	}
}

func TestDrainAndResume(t *testing.T) {
	h := newHarness(t, 1)
	if err := h.c.NodeAction(root, "sim001", api.ActionDrain, "fan noise"); err != nil {
		t.Fatal(err)
	}
	id := h.submit(alice, simSpec(time.Second, 0))[0]
	h.until("a reason for the waiting job", func() bool {
		h.c.mu.RLock()
		defer h.c.mu.RUnlock()
		return h.c.reasons[id] == job.ReasonNodeDown
	})
	if got := h.c.Nodes()[0]; got.State != "DRAINED" || !strings.Contains(got.Reason, "fan noise") {
		t.Errorf("drained node shows %s %q", got.State, got.Reason)
	}
	if err := h.c.NodeAction(root, "sim001", api.ActionResume, ""); err != nil {
		t.Fatal(err)
	}
	h.waitState(id, job.Completed)
}
