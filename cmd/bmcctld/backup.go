package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	"github.com/spf13/pflag"

	"github.com/bmc-sched/bmc/backup"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/store"
)

// backupFlags configure the state file's backups and --restore.
type backupFlags struct {
	schedule string
	keep     int
	restore  bool
	force    bool
}

func (b *backupFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&b.schedule, "backup-schedule", backup.DefaultSchedule, `when to back up the state file while running (cron: 5 fields, @daily, @every 6h; "" only at shutdown)`)
	fl.IntVar(&b.keep, "backup-keep", backup.DefaultKeep, "how many backups of the state file to keep in <state-dir>/backups")
	fl.BoolVar(&b.restore, "restore", false, "put a backup (FILE, or the newest good one) in place of a damaged state file, keep the damaged one aside, and exit")
	fl.BoolVar(&b.force, "force", false, "with --restore: restore even over a state file that is not damaged")
}

// check reads the schedule and checks the count, before anything starts.
func (b *backupFlags) check() (cron.Schedule, error) {
	sched, err := backup.ParseSchedule(b.schedule)
	if err != nil {
		return nil, fmt.Errorf("--backup-schedule: %w", err)
	}
	if b.keep < 1 {
		return nil, fmt.Errorf("--backup-keep %d: keep at least 1", b.keep)
	}
	return sched, nil
}

// newBackups returns the runner that takes the daemon's backups, counted on
// reg.
func newBackups(b *backupFlags, stateDir string, st *store.Store, clk clock.Clock, log *slog.Logger, reg prometheus.Registerer) (*backup.Runner, error) {
	sched, err := b.check()
	if err != nil {
		return nil, err
	}
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bmc_state_backups_total", Help: "State file backups taken, by result (ok, failed).",
	}, []string{"result"})
	last := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "bmc_state_backup_last_success_timestamp_seconds", Help: "When the newest good state file backup was taken.",
	})
	ok, failed := total.WithLabelValues("ok"), total.WithLabelValues("failed")
	if err := reg.Register(total); err != nil {
		return nil, err
	}
	if err := reg.Register(last); err != nil {
		return nil, err
	}
	return &backup.Runner{Writer: st, Dir: backup.Dir(stateDir), Keep: b.keep, Schedule: sched, Clock: clk, Log: log,
		Done: func(f backup.File, err error) {
			if err != nil {
				failed.Inc()
				return
			}
			ok.Inc()
			last.Set(float64(f.Time.Unix()))
		}}, nil
}

// restore is bmcctld --restore [FILE]: it prints what it did, one line each.
func restore(f *flags, args []string, now time.Time, stdout io.Writer) error {
	o := backup.RestoreOptions{StateDir: f.stateDir, Force: f.backup.force, Now: now}
	if len(args) == 1 {
		o.From = args[0]
	}
	sock := f.socket
	if sock == "" {
		sock = filepath.Join(f.stateDir, "bmcctld.sock")
	}
	// The state file's lock says whether a bmcctld runs on it; the socket
	// also catches one whose state file was moved or deleted under it.
	if c, err := net.Dial("unix", sock); err == nil {
		c.Close()
		return fmt.Errorf("--restore: a bmcctld answers on %s: stop it first", sock)
	}
	res, err := backup.Restore(o)
	for _, s := range res.Skipped {
		fmt.Fprintf(stdout, "skipped %s: %s\n", s.Path, skipReason(s.Err))
	}
	if err != nil {
		return fmt.Errorf("--restore: %w", err)
	}
	switch {
	case res.Damaged != "" && res.Reason != "":
		fmt.Fprintf(stdout, "kept the damaged state file (%s) as %s\n", res.Reason, res.Damaged)
	case res.Damaged != "":
		fmt.Fprintf(stdout, "kept the old state file as %s\n", res.Damaged)
	}
	taken := ""
	if !res.From.Time.IsZero() {
		taken = " taken " + res.From.Time.Format(time.RFC3339)
	}
	fmt.Fprintf(stdout, "restored %s from %s%s; what changed after it is lost, and ids of jobs submitted since will be given again\n",
		res.State, res.From.Path, taken)
	return nil
}

func skipReason(err error) string {
	var de *store.DamageError
	if errors.As(err, &de) {
		return de.Reason
	}
	return err.Error()
}
