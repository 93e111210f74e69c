package ctld

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

func TestRecurringJobRunsOnScheduleUntilCancelled(t *testing.T) {
	h := newHarness(t, 1)
	s := simSpec(10*time.Second, 0)
	s.Schedule = "*/5 * * * *" // every five minutes, like a scrontab line
	first := h.submit(alice, s)[0]
	j := h.job(first)
	if want := t0.Add(5 * time.Minute); !j.Spec.Begin.Equal(want) {
		t.Fatalf("first run begins %s, want the schedule's next time %s", j.Spec.Begin, want)
	}
	j = h.waitState(first, job.Completed)
	if j.RunTime.Before(t0.Add(5 * time.Minute)) {
		t.Errorf("first run started at %s, before its begin time", j.RunTime)
	}
	// The next run is queued in the same transaction as the end of this one.
	second := first + 1
	n := h.job(second)
	if n == nil || n.State != job.Pending || !n.Spec.Begin.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("after the first run: next run %+v, want PENDING from %s", n, t0.Add(10*time.Minute))
	}
	evs := h.events(second)
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, fmt.Sprintf("after job %d", first)) {
		t.Errorf("next run's event log: %+v", evs)
	}
	h.waitState(second, job.Completed)
	third := second + 1
	if _, err := h.c.Act(alice, fmt.Sprint(third), api.ActionCancel); err != nil {
		t.Fatal(err)
	}
	h.until("a while past the cancelled run's time", func() bool { return h.clk.Now().After(t0.Add(20 * time.Minute)) })
	if j := h.job(third + 1); j != nil {
		t.Errorf("cancelling a run should end the series; found job %d (%s)", j.ID, j.State)
	}
}

func TestRecurringArrayIsRefused(t *testing.T) {
	h := newHarness(t, 1)
	s := simSpec(time.Second, 0)
	s.Schedule = "@daily"
	a, _ := job.ParseArray("1-3")
	s.Array = &a
	if _, err := h.c.Submit(t.Context(), alice, api.SubmitRequest{Spec: s}); err == nil || !strings.Contains(err.Error(), "cannot be an array") {
		t.Errorf("recurring array: %v", err)
	}
}
