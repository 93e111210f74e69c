package backup

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/bmc-sched/bmc/internal/clock"
)

// DefaultSchedule and DefaultKeep are bmcctld's --backup-schedule and
// --backup-keep.
const (
	DefaultSchedule = "@daily"
	DefaultKeep     = 7
)

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule reads a cron schedule: five fields (minute hour day month
// weekday) or @hourly, @daily, @weekly, @monthly, @yearly, @every 6h. An
// empty spec is no schedule (nil).
func ParseSchedule(spec string) (cron.Schedule, error) {
	if spec == "" {
		return nil, nil
	}
	s, err := parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", spec, err)
	}
	return s, nil
}

// Runner takes the daemon's backups: on its schedule while Run runs, and one
// more at a clean shutdown (Final).
type Runner struct {
	Writer   Writer
	Dir      string
	Keep     int
	Schedule cron.Schedule // nil: only Final
	Clock    clock.Clock
	Log      *slog.Logger
	// Done, if set, hears of every backup taken or failed.
	Done func(File, error)

	mu sync.Mutex // one backup at a time
}

// Run takes a backup at each time of the schedule until ctx ends. A failed
// backup is logged and counted (Done), and the next time tries again: the
// state itself is not touched, so there is nothing to undo.
func (r *Runner) Run(ctx context.Context) error {
	if r.Schedule == nil {
		<-ctx.Done()
		return nil
	}
	for {
		now := r.Clock.Now()
		next := r.Schedule.Next(now)
		if next.IsZero() {
			<-ctx.Done()
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.Clock.After(next.Sub(now)):
		}
		r.take("scheduled")
	}
}

// Final takes the shutdown backup; bmcctld calls it once everything that
// writes the state has stopped.
func (r *Runner) Final() error {
	_, err := r.take("shutdown")
	return err
}

func (r *Runner) take(why string) (File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := r.Clock.Now()
	f, err := Take(r.Writer, r.Dir, start, r.Keep)
	if err != nil {
		r.Log.Error("state backup failed", "why", why, "dir", r.Dir, "err", err)
	} else {
		r.Log.Info("state backed up", "why", why, "file", f.Path, "took", r.Clock.Now().Sub(start).Round(time.Millisecond), "keep", r.Keep)
	}
	if r.Done != nil {
		r.Done(f, err)
	}
	return f, err
}
