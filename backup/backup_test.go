package backup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/store"
)

var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

// openStore opens a state file in a fresh state directory with n held jobs.
func openStore(t *testing.T, n int) (*store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, StateFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for range n {
		addJob(t, st)
	}
	return st, dir
}

func addJob(t *testing.T, st *store.Store) uint64 {
	t.Helper()
	var id uint64
	err := st.Update(func(tx *store.Tx) error {
		j := &job.Job{User: "ann", State: job.Held, ArrayTaskID: -1, SubmitTime: t0}
		err := tx.NewJob(j, job.Event{Time: t0, State: job.Held, Reason: "submitted"})
		id = j.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func jobIDs(t *testing.T, path string) []uint64 {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ids []uint64
	err = st.View(func(tx *store.Tx) error {
		return tx.ForEachJob(func(j *job.Job) error { ids = append(ids, j.ID); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func names(fs []File) []string {
	var out []string
	for _, f := range fs {
		out = append(out, filepath.Base(f.Path))
	}
	return out
}

func TestTakeWritesVerifiedBackupsAndKeepsTheNewest(t *testing.T) {
	st, state := openStore(t, 2)
	dir := Dir(state)
	// Not backups: kept whatever their age.
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "state-yesterday.db"), nil, 0o600)
	// What a crash in the middle of a backup leaves: removed.
	os.WriteFile(filepath.Join(dir, ".state-20261124T030000Z.db.123"), nil, 0o600)
	for day := range 5 {
		f, err := Take(st, dir, t0.Add(time.Duration(day)*24*time.Hour), 3)
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(time.Duration(day) * 24 * time.Hour); !f.Time.Equal(want) {
			t.Errorf("File.Time = %v, want %v", f.Time, want)
		}
		if err := store.Verify(f.Path); err != nil {
			t.Fatalf("backup does not verify: %v", err)
		}
	}
	all, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"state-20261129T030000Z.db", "state-20261128T030000Z.db", "state-20261127T030000Z.db"}
	if got := names(all); !slices.Equal(got, want) {
		t.Errorf("backups = %v, want %v", got, want)
	}
	left, _ := os.ReadDir(dir)
	var others []string
	for _, e := range left {
		others = append(others, e.Name())
	}
	if want := append([]string{"notes.txt"}, append(slices.Clone(want), "state-yesterday.db")...); !slices.Equal(sortStrings(others), sortStrings(want)) {
		t.Errorf("dir holds %v, want %v", others, want)
	}
	if ids := jobIDs(t, all[0].Path); !slices.Equal(ids, []uint64{1, 2}) {
		t.Errorf("backup holds jobs %v, want [1 2]", ids)
	}
}

func sortStrings(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

type failingWriter struct{ err error }

func (w failingWriter) WriteBackup(string) error { return w.err }

// A backup that fails removes nothing: the old ones are all there is.
func TestTakeThatFailsPrunesNothing(t *testing.T) {
	st, state := openStore(t, 1)
	dir := Dir(state)
	for day := range 2 {
		if _, err := Take(st, dir, t0.Add(time.Duration(day)*time.Hour), 2); err != nil {
			t.Fatal(err)
		}
	}
	boom := errors.New("disk full")
	if _, err := Take(failingWriter{boom}, dir, t0.Add(48*time.Hour), 1); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if all, _ := List(dir); len(all) != 2 {
		t.Errorf("%d backups left, want 2", len(all))
	}
	if _, err := Take(st, dir, t0, 0); err == nil {
		t.Error("keep 0 accepted")
	}
}

func TestParseSchedule(t *testing.T) {
	for spec, next := range map[string]time.Time{
		"@daily":      time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		"30 2 * * *":  time.Date(2026, 11, 26, 2, 30, 0, 0, time.UTC),
		"@every 6h":   t0.Add(6 * time.Hour),
		"0 * * * 1-5": t0.Add(time.Hour),
	} {
		s, err := ParseSchedule(spec)
		if err != nil {
			t.Errorf("%q: %v", spec, err)
			continue
		}
		if got := s.Next(t0); !got.Equal(next) {
			t.Errorf("%q: next after %v = %v, want %v", spec, t0, got, next)
		}
	}
	if s, err := ParseSchedule(""); s != nil || err != nil {
		t.Errorf(`"" = %v, %v; want no schedule`, s, err)
	}
	for _, bad := range []string{"daily", "61 * * * *", "* * * *", "@fortnightly"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
