package ctld

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/bmc-sched/bmc/job"
)

// Recurring jobs (`schedule = "0 3 * * *"` in a job file, like scrontab):
// each run is an ordinary job that waits for its begin time; when a run
// ends (in any final state but CANCELLED), the next run is queued in the
// same store transaction, so a crash can neither lose nor double the series.
// Cancelling a run ends the series.

// nextRun returns the first time after now the schedule names.
func nextRun(schedule string, now time.Time) (time.Time, error) {
	s, err := cron.ParseStandard(schedule)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule %q: %w", schedule, err)
	}
	next := s.Next(now)
	if next.IsZero() {
		return time.Time{}, fmt.Errorf("schedule %q never fires", schedule)
	}
	return next, nil
}

// successor is the next run of a recurring job that has just ended, or nil.
// An error (a schedule that never fires again) ends the series; the caller
// writes it into the ending run's event.
func (c *Controller) successor(old, j *job.Job) (*job.Job, job.Event, error) {
	if j.Spec.Schedule == "" || old.State.Final() || !j.State.Final() || j.State == job.Cancelled {
		return nil, job.Event{}, nil
	}
	now := c.clk.Now()
	begin, err := nextRun(j.Spec.Schedule, now)
	if err != nil {
		return nil, job.Event{}, fmt.Errorf("recurring: no next run: %w", err)
	}
	spec := *j.Spec // specs are shared between records: never written through
	spec.Begin, spec.Hold = begin, false
	n := &job.Job{ArrayTaskID: -1, User: j.User, UID: j.UID, GID: j.GID, Cwd: j.Cwd, Spec: &spec,
		State: job.Pending, Reason: job.ReasonBeginTime, SubmitTime: now}
	return n, job.Event{Time: now, State: job.Pending, Reason: job.ReasonBeginTime,
		Detail: fmt.Sprintf("recurring (%s): next run after job %d, at %s", j.Spec.Schedule, j.ID, begin.Format(time.RFC3339))}, nil
}
