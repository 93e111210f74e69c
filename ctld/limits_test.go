package ctld

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/job"
)

// A user who tries to queue more than MaxSubmitJobs gets one error naming
// the limit, and nothing of the refused submit is queued; ended jobs give
// their room back.
func TestMaxSubmitJobs(t *testing.T) {
	h := newHarness(t, 1, func(h *harness) { h.cfg.Limits = Limits{MaxSubmitJobs: 5, MaxArrayTasks: 4} })
	held := simSpec(time.Second, 0)
	held.Hold = true
	h.heldArray(alice, 4)
	for _, tc := range []struct {
		name  string
		tasks int
		want  string
	}{
		{"array over MaxArraySize", 5, "invalid request: array: 5 tasks; MaxArraySize allows 4 per array (bmcctld --max-array-size)"},
		{"over MaxSubmitJobs", 2, "permission denied: MaxSubmitJobs: user alice has 4 jobs pending or running, and 2 more would pass the limit of 5 (bmcctld --max-submit-jobs)"},
	} {
		s := held
		a, _ := job.ParseArray("1-" + strconv.Itoa(tc.tasks))
		s.Array = &a
		_, err := h.c.Submit(context.Background(), alice, api.SubmitRequest{Spec: s, Cwd: h.dir})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v\nwant %s", tc.name, err, tc.want)
		}
	}
	h.submit(alice, held) // the fifth
	if _, err := h.c.Submit(context.Background(), alice, api.SubmitRequest{Spec: held, Cwd: h.dir}); !errors.Is(err, ErrForbidden) {
		t.Errorf("a sixth job: %v", err)
	}
	h.submit(bob, held) // others are not held to alice's count
	if _, err := h.c.Act(alice, "1", api.ActionCancel); err != nil {
		t.Fatal(err)
	}
	h.submit(alice, held) // a cancelled job gives its room back

	// One user's own limit from its association, and an account's.
	if err := h.c.AddAccount(root, assoc.Account{Name: "lab", Jobs: assoc.JobLimits{MaxSubmitJobs: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.AddUser(root, assoc.User{Name: "bob", Accounts: []string{"lab"}, Jobs: assoc.JobLimits{MaxSubmitJobs: 100}}); err != nil {
		t.Fatal(err)
	}
	h.submit(bob, held)
	_, err := h.c.Submit(context.Background(), bob, api.SubmitRequest{Spec: held, Cwd: h.dir})
	if want := "permission denied: MaxSubmitJobs: account lab has 1 jobs pending or running, and 1 more would pass its limit of 1 (bmcq account modify lab --max-submit-jobs)"; err == nil || err.Error() != want {
		t.Errorf("account limit: %v", err)
	}
}

// MaxJobs lets a user run that many jobs at once; the others wait with
// AssocMaxJobsLimit and start as the running ones end.
func TestMaxJobs(t *testing.T) {
	h := newHarness(t, 3, func(h *harness) { h.cfg.Limits = Limits{MaxJobs: 1} })
	ids := h.submit(alice, simSpec(10*time.Second, 0))
	ids = append(ids, h.submit(alice, simSpec(10*time.Second, 0))...)
	other := h.submit(bob, simSpec(10*time.Second, 0))
	h.waitState(ids[0], job.Running)
	h.waitState(other[0], job.Running)
	h.until("the second job to wait for MaxJobs", func() bool {
		h.c.mu.RLock()
		defer h.c.mu.RUnlock()
		return h.c.reasons[ids[1]] == job.ReasonMaxJobs
	})
	if st := h.job(ids[1]).State; st != job.Pending {
		t.Fatalf("alice's second job is %s with a node free", st)
	}
	h.waitState(ids[0], job.Completed)
	h.waitState(ids[1], job.Completed)
}

// Submits sent side by side cannot all pass on the same count.
func TestMaxSubmitJobsSideBySide(t *testing.T) {
	h := newHarness(t, 1, func(h *harness) { h.cfg.Limits = Limits{MaxSubmitJobs: 5} })
	held := simSpec(time.Second, 0)
	held.Hold = true
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.c.Submit(context.Background(), alice, api.SubmitRequest{Spec: held, Cwd: h.dir}); err == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 5 {
		t.Errorf("%d of 20 side-by-side submits passed a limit of 5", ok.Load())
	}
}

// An account's MaxJobs holds the jobs charging it, whoever submits them.
func TestAccountMaxJobs(t *testing.T) {
	h := newHarness(t, 3)
	if err := h.c.AddAccount(root, assoc.Account{Name: "lab", Jobs: assoc.JobLimits{MaxJobs: 1}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := h.c.AddUser(root, assoc.User{Name: u, Accounts: []string{"lab"}}); err != nil {
			t.Fatal(err)
		}
	}
	first := h.submit(alice, simSpec(10*time.Second, 0))[0]
	second := h.submit(bob, simSpec(10*time.Second, 0))[0]
	h.waitState(first, job.Running)
	h.until("bob's job to wait for the account's MaxJobs", func() bool {
		h.c.mu.RLock()
		defer h.c.mu.RUnlock()
		return h.c.reasons[second] == job.ReasonMaxJobs
	})
	h.waitState(second, job.Completed)
}
