// Package backup owns the state file's backups: where they live
// (<state-dir>/backups/state-<UTC time>.db), when they are taken (on a cron
// schedule and at a clean shutdown), how many are kept, and putting one back
// over a damaged state file (Restore). The store writes and verifies each
// copy; this package never opens the database itself.
package backup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	// DirName is the backups' directory inside the state directory.
	DirName = "backups"
	// StateFile is the state file's name inside the state directory.
	StateFile = "state.db"
	// stamp is the UTC time in a backup's name: sortable, no colons.
	stamp  = "20060102T150405Z"
	prefix = "state-"
	suffix = ".db"
)

// Writer writes a verified backup of the running state to a path
// (*store.Store).
type Writer interface {
	WriteBackup(path string) error
}

// File is one backup.
type File struct {
	Path string
	Time time.Time // when it was taken, from its name
}

// Dir is the backups' directory for a state directory.
func Dir(stateDir string) string { return filepath.Join(stateDir, DirName) }

// Name is the file name of a backup taken at t.
func Name(t time.Time) string { return prefix + t.UTC().Format(stamp) + suffix }

// List returns the backups in dir, newest first. A missing dir has none.
func List(dir string) ([]File, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []File
	for _, e := range ents {
		t, ok := parseName(e.Name())
		if ok && e.Type().IsRegular() {
			out = append(out, File{Path: filepath.Join(dir, e.Name()), Time: t})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, nil
}

func parseName(name string) (time.Time, bool) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return time.Time{}, false
	}
	if s, ok = strings.CutSuffix(s, suffix); !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(stamp, s)
	return t, err == nil
}

// Take writes a backup named for now into dir, then removes all but the
// newest keep backups. Nothing is removed unless the new one was written and
// verified.
func Take(w Writer, dir string, now time.Time, keep int) (File, error) {
	if keep < 1 {
		return File{}, fmt.Errorf("backup: keep %d, want at least 1", keep)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return File{}, fmt.Errorf("backup: %w", err)
	}
	f := File{Path: filepath.Join(dir, Name(now)), Time: now.UTC().Truncate(time.Second)}
	if err := w.WriteBackup(f.Path); err != nil {
		return File{}, err
	}
	return f, prune(dir, keep)
}

// prune removes all but the newest keep backups, and the temporary files of
// a backup that a crash cut short.
func prune(dir string, keep int) error {
	all, err := List(dir)
	if err != nil {
		return fmt.Errorf("backup: prune: %w", err)
	}
	var errs []error
	for _, f := range all[min(keep, len(all)):] {
		errs = append(errs, os.Remove(f.Path))
	}
	left, _ := filepath.Glob(filepath.Join(dir, "."+prefix+"*"+suffix+".*"))
	for _, p := range left {
		errs = append(errs, os.Remove(p))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("backup: prune: %w", err)
	}
	return nil
}
