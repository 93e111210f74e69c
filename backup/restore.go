package backup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bmc-sched/bmc/store"
)

// ErrSound: the state file passes the check, so a restore would throw away
// what happened since the backup; RestoreOptions.Force does it anyway.
var ErrSound = errors.New("the state file is not damaged")

// ErrNoBackup: there is no good backup to restore.
var ErrNoBackup = errors.New("no good backup")

// RestoreOptions say what to restore.
type RestoreOptions struct {
	StateDir string
	From     string // a backup file; "" is the newest one that verifies
	Force    bool   // restore over a state file that is not damaged
	Now      time.Time
}

// Restored says what Restore did.
type Restored struct {
	State   string // the state file written
	From    File   // the backup it came from (Time is zero for a file not named like a backup)
	Damaged string // where the old state file is kept; "" if there was none
	Reason  string // what was wrong with it; "" if it passed the check (Force)
	Skipped []Skip // newer backups that did not verify
}

// Skip is a backup passed over, and why.
type Skip struct {
	Path string
	Err  error
}

// Restore puts a backup in place of the state file (store.Replace: the
// copy verified first, the old file kept as state.db.damaged-<time>). It
// refuses while a bmcctld holds the state file, and over a sound state file
// unless forced.
func Restore(o RestoreOptions) (Restored, error) {
	state := filepath.Join(o.StateDir, StateFile)
	res := Restored{State: state}
	switch err := store.Verify(state); {
	case errors.Is(err, os.ErrNotExist):
	case errors.Is(err, store.ErrInUse):
		return res, fmt.Errorf("%s: %w: stop it before restoring", state, err)
	case errors.Is(err, store.ErrDamaged):
		var de *store.DamageError
		errors.As(err, &de)
		res.Reason = de.Reason
	case err != nil:
		return res, err
	case !o.Force:
		return res, fmt.Errorf("%s: %w (it passes the check); restoring would lose everything since the backup: add --force to restore anyway", state, ErrSound)
	}
	from, skipped, err := choose(o)
	res.From, res.Skipped = from, skipped
	if err != nil {
		return res, err
	}
	kept, err := store.Replace(state, from.Path, state+".damaged-"+o.Now.UTC().Format(stamp))
	res.Damaged = kept
	if err != nil {
		return res, fmt.Errorf("restore %s: %w", state, err)
	}
	return res, nil
}

// choose picks the backup: the one named, which must verify, or the newest
// that does.
func choose(o RestoreOptions) (File, []Skip, error) {
	if o.From != "" {
		t, _ := parseName(filepath.Base(o.From))
		if err := store.Verify(o.From); err != nil {
			return File{}, nil, fmt.Errorf("backup %s: %w", o.From, err)
		}
		return File{Path: o.From, Time: t}, nil, nil
	}
	dir := Dir(o.StateDir)
	all, err := List(dir)
	if err != nil {
		return File{}, nil, fmt.Errorf("backups: %w", err)
	}
	var skipped []Skip
	for _, f := range all {
		if err := store.Verify(f.Path); err != nil {
			skipped = append(skipped, Skip{Path: f.Path, Err: err})
			continue
		}
		return f, skipped, nil
	}
	return File{}, skipped, fmt.Errorf("%w in %s (%d damaged); if the state file never held anything you need, remove it to start empty", ErrNoBackup, dir, len(skipped))
}
