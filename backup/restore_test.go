package backup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/store"
)

var restoreAt = time.Date(2026, 11, 26, 10, 15, 0, 0, time.UTC)

// corrupt cuts the state file inside its pages, as a full disk or a bad
// copy would.
func corrupt(t *testing.T, path string) {
	t.Helper()
	if err := os.Truncate(path, 9000); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(path, store.Options{}); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("open after corruption: %v, want ErrDamaged", err)
	}
}

// A job accepted before the backup is there after a restore; the damaged
// file is kept aside, byte for byte.
func TestRestoreAfterCorruption(t *testing.T) {
	st, state := openStore(t, 2)
	if _, err := Take(st, Dir(state), t0, 7); err != nil {
		t.Fatal(err)
	}
	addJob(t, st) // after the backup: lost by the restore
	st.Close()
	path := filepath.Join(state, StateFile)
	corrupt(t, path)
	damaged, _ := os.ReadFile(path)

	res, err := Restore(RestoreOptions{StateDir: state, Now: restoreAt})
	if err != nil {
		t.Fatal(err)
	}
	want := Restored{State: path, From: File{Path: filepath.Join(Dir(state), "state-20261125T030000Z.db"), Time: t0},
		Damaged: path + ".damaged-20261126T101500Z", Reason: "it is truncated: 9000 bytes, its 6 pages need 24576"}
	if res.State != want.State || res.From != want.From || res.Damaged != want.Damaged || len(res.Skipped) != 0 {
		t.Errorf("Restore = %+v\nwant      %+v", res, want)
	}
	if !strings.HasPrefix(res.Reason, "it is truncated: 9000 bytes") {
		t.Errorf("Reason = %q", res.Reason)
	}
	if kept, _ := os.ReadFile(res.Damaged); string(kept) != string(damaged) {
		t.Error("the damaged file was not kept as it was")
	}
	if ids := jobIDs(t, path); !slices.Equal(ids, []uint64{1, 2}) {
		t.Errorf("restored state holds jobs %v, want [1 2]", ids)
	}
	if left, _ := filepath.Glob(filepath.Join(state, ".state.db.restore-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// Without FILE the newest backup that verifies wins; newer damaged ones are
// named and passed over.
func TestRestorePassesOverDamagedBackups(t *testing.T) {
	st, state := openStore(t, 1)
	dir := Dir(state)
	Take(st, dir, t0, 7)
	addJob(t, st)
	good, _ := Take(st, dir, t0.Add(time.Hour), 7)
	bad, _ := Take(st, dir, t0.Add(2*time.Hour), 7)
	st.Close()
	os.Truncate(bad.Path, 5000)
	corrupt(t, filepath.Join(state, StateFile))

	res, err := Restore(RestoreOptions{StateDir: state, Now: restoreAt})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != good || len(res.Skipped) != 1 || res.Skipped[0].Path != bad.Path || !errors.Is(res.Skipped[0].Err, store.ErrDamaged) {
		t.Errorf("restored from %v, skipped %+v; want %v, skipping %s", res.From, res.Skipped, good, bad.Path)
	}
	if ids := jobIDs(t, res.State); len(ids) != 2 {
		t.Errorf("restored jobs %v, want 2", ids)
	}
}

func TestRestoreNamedFile(t *testing.T) {
	st, state := openStore(t, 1)
	old, _ := Take(st, Dir(state), t0, 7)
	addJob(t, st)
	Take(st, Dir(state), t0.Add(time.Hour), 7)
	st.Close()
	corrupt(t, filepath.Join(state, StateFile))
	elsewhere := filepath.Join(t.TempDir(), "copy.db")
	data, _ := os.ReadFile(old.Path)
	os.WriteFile(elsewhere, data, 0o600)

	res, err := Restore(RestoreOptions{StateDir: state, From: elsewhere, Now: restoreAt})
	if err != nil {
		t.Fatal(err)
	}
	if res.From.Path != elsewhere || !res.From.Time.IsZero() {
		t.Errorf("From = %+v", res.From)
	}
	if ids := jobIDs(t, res.State); len(ids) != 1 {
		t.Errorf("restored jobs %v, want the named file's 1", ids)
	}
	os.Truncate(elsewhere, 100)
	corrupt(t, res.State)
	if _, err := Restore(RestoreOptions{StateDir: state, From: elsewhere, Now: restoreAt}); !errors.Is(err, store.ErrDamaged) {
		t.Errorf("restore from a damaged file: %v, want ErrDamaged", err)
	}
	if _, err := Restore(RestoreOptions{StateDir: state, From: filepath.Join(state, "none.db"), Now: restoreAt}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("restore from a missing file: %v", err)
	}
}

func TestRestoreRefuses(t *testing.T) {
	st, state := openStore(t, 1)
	Take(st, Dir(state), t0, 7)

	_, err := Restore(RestoreOptions{StateDir: state, Now: restoreAt})
	if !errors.Is(err, store.ErrInUse) {
		t.Errorf("while the store is open: %v, want ErrInUse", err)
	}
	st.Close()
	_, err = Restore(RestoreOptions{StateDir: state, Now: restoreAt})
	if !errors.Is(err, ErrSound) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("over a sound state file: %v, want ErrSound", err)
	}
	res, err := Restore(RestoreOptions{StateDir: state, Force: true, Now: restoreAt})
	if err != nil || res.Damaged == "" || res.Reason != "" {
		t.Errorf("forced: %+v, %v", res, err)
	}
	// Twice in the same second: the second old file gets its own name.
	res2, err := Restore(RestoreOptions{StateDir: state, Force: true, Now: restoreAt})
	if err != nil || res2.Damaged != res.Damaged+".1" {
		t.Errorf("second forced restore kept the old file as %q (%v), want %q", res2.Damaged, err, res.Damaged+".1")
	}

	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, StateFile), []byte("garbage"), 0o600)
	if _, err := Restore(RestoreOptions{StateDir: empty, Now: restoreAt}); !errors.Is(err, ErrNoBackup) {
		t.Errorf("no backups: %v, want ErrNoBackup", err)
	}
}

// A state file that is gone entirely is restored without keeping anything.
func TestRestoreMissingStateFile(t *testing.T) {
	st, state := openStore(t, 3)
	Take(st, Dir(state), t0, 7)
	st.Close()
	os.Remove(filepath.Join(state, StateFile))
	res, err := Restore(RestoreOptions{StateDir: state, Now: restoreAt})
	if err != nil || res.Damaged != "" {
		t.Fatalf("Restore = %+v, %v", res, err)
	}
	if ids := jobIDs(t, res.State); len(ids) != 3 {
		t.Errorf("restored jobs %v, want 3", ids)
	}
}
