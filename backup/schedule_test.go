package backup

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
)

type taken struct {
	f   File
	err error
}

// start runs r until the returned cancel; stopped hears Run's result.
func start(r *Runner) (ctx context.Context, cancel func(), stopped chan error) {
	ctx, cancel = context.WithCancel(context.Background())
	stopped = make(chan error, 1)
	go func() { stopped <- r.Run(ctx) }()
	return ctx, cancel, stopped
}

func newRunner(t *testing.T, w Writer, dir, spec string, clk clock.Clock, log *bytes.Buffer) (*Runner, chan taken) {
	t.Helper()
	sched, err := ParseSchedule(spec)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan taken, 8)
	r := &Runner{Writer: w, Dir: dir, Keep: 7, Schedule: sched, Clock: clk, Log: slog.New(slog.NewTextHandler(log, nil)),
		Done: func(f File, err error) { done <- taken{f, err} }}
	return r, done
}

// The daily backup is taken at midnight and not before; a job accepted
// before it is in it; the shutdown backup follows.
func TestRunnerTakesDailyAndFinalBackups(t *testing.T) {
	st, state := openStore(t, 1)
	clk := clock.NewFake(t0)
	var log bytes.Buffer
	r, done := newRunner(t, st, Dir(state), "@daily", clk, &log)
	ctx, cancel, stopped := start(r)
	defer cancel()

	clk.BlockUntil(ctx, 1)
	clk.Advance(20*time.Hour + 59*time.Minute) // 23:59
	select {
	case got := <-done:
		t.Fatalf("backup at %v, before midnight: %+v", clk.Now(), got)
	default:
	}
	id := addJob(t, st)
	clk.BlockUntil(ctx, 1)
	clk.Advance(time.Minute)
	got := <-done
	if got.err != nil || got.f.Time != time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("daily backup = %+v", got)
	}
	if ids := jobIDs(t, got.f.Path); len(ids) != 2 || ids[1] != id {
		t.Errorf("daily backup holds jobs %v, want the one accepted before it (%d)", ids, id)
	}

	clk.BlockUntil(ctx, 1)
	clk.Advance(24 * time.Hour)
	if got := <-done; got.err != nil || got.f.Time.Day() != 27 {
		t.Fatalf("second daily backup = %+v", got)
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Fatalf("Run = %v", err)
	}
	clk.Advance(time.Hour)
	if err := r.Final(); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got.err != nil || got.f.Time != time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC) {
		t.Fatalf("shutdown backup = %+v", got)
	}
	if all, _ := List(Dir(state)); len(all) != 3 {
		t.Errorf("%d backups, want 3", len(all))
	}
	if !strings.Contains(log.String(), "why=shutdown") || !strings.Contains(log.String(), "why=scheduled") {
		t.Errorf("log does not say why each backup was taken:\n%s", log.String())
	}
}

// A failed backup is logged and counted, and the next one is tried on time.
func TestRunnerGoesOnAfterAFailure(t *testing.T) {
	boom := errors.New("disk full")
	clk := clock.NewFake(t0)
	var log bytes.Buffer
	r, done := newRunner(t, failingWriter{boom}, t.TempDir(), "@hourly", clk, &log)
	ctx, cancel, _ := start(r)
	defer cancel()
	for range 2 {
		clk.BlockUntil(ctx, 1)
		clk.Advance(time.Hour)
		if got := <-done; !errors.Is(got.err, boom) {
			t.Fatalf("got %+v, want the writer's error", got)
		}
	}
	if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "disk full") {
		t.Errorf("failure not logged:\n%s", log.String())
	}
}

// Without a schedule only the shutdown backup is taken.
func TestRunnerWithoutScheduleWaits(t *testing.T) {
	st, state := openStore(t, 0)
	clk := clock.NewFake(t0)
	var log bytes.Buffer
	r, done := newRunner(t, st, Dir(state), "", clk, &log)
	_, cancel, stopped := start(r)
	clk.Advance(1000 * time.Hour)
	cancel()
	<-stopped
	if len(done) != 0 || clk.Waiters() != 0 {
		t.Fatalf("%d backups, %d timers without a schedule", len(done), clk.Waiters())
	}
	if err := r.Final(); err != nil {
		t.Fatal(err)
	}
}
