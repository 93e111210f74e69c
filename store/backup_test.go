package store

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
)

// Backups taken while submits commit are each one transaction's view: they
// verify, and hold a whole prefix of the jobs (ids 1..n, each with its
// event), never half a commit.
func TestWriteBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "state.db"))
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	stop := make(chan struct{})
	committed := make(chan struct{}, 1024)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := s.Batch(func(tx *Tx) error {
					return tx.NewJob(&job.Job{User: "ann", State: job.Pending, SubmitTime: t0}, job.Event{Time: t0, State: job.Pending})
				})
				if err != nil {
					t.Error(err)
					return
				}
				select {
				case committed <- struct{}{}:
				default:
				}
			}
		}()
	}
	var paths []string
	for i := range 5 {
		for range 20 {
			<-committed // writers are busy while this backup is taken
		}
		p := filepath.Join(dir, "backups", "b"+string(rune('0'+i))+".db")
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := s.WriteBackup(p); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	close(stop)
	wg.Wait()
	for i, p := range paths {
		if err := Verify(p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b, err := Open(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var want uint64 = 1
		err = b.View(func(tx *Tx) error {
			return tx.ForEachJob(func(j *job.Job) error {
				if j.ID != want {
					t.Errorf("%s: job %d, want %d", p, j.ID, want)
				}
				if evs, err := tx.Events(j.ID); err != nil || len(evs) != 1 {
					t.Errorf("%s: job %d has %d events (%v), want 1", p, j.ID, len(evs), err)
				}
				want++
				return nil
			})
		})
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want < uint64(20*(i+1)) {
			t.Errorf("%s holds %d jobs, want at least %d", p, want-1, 20*(i+1))
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "backups", ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestWriteBackupIntoMissingDirFails(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	if err := s.WriteBackup(filepath.Join(t.TempDir(), "no", "such", "b.db")); err == nil {
		t.Fatal("backup into a missing directory succeeded")
	}
}

// Replace keeps the old file under a free name and leaves the state file
// as it was when the copy does not verify.
func TestReplace(t *testing.T) {
	dir := t.TempDir()
	path, from := filepath.Join(dir, "state.db"), filepath.Join(dir, "backup.db")
	s := open(t, path)
	s.Update(func(tx *Tx) error { return tx.NewJob(&job.Job{User: "ann"}, job.Event{}) })
	if err := s.WriteBackup(from); err != nil {
		t.Fatal(err)
	}
	s.Close()
	os.WriteFile(filepath.Join(dir, "old"), nil, 0o600)
	kept, err := Replace(path, from, filepath.Join(dir, "old"))
	if err != nil || kept != filepath.Join(dir, "old.1") {
		t.Fatalf("Replace = %q, %v; want the old file kept as old.1", kept, err)
	}
	before, _ := os.ReadFile(path)
	os.Truncate(from, 5000)
	if _, err := Replace(path, from, filepath.Join(dir, "old")); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Replace from a damaged copy = %v, want ErrDamaged", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a failed Replace changed the state file")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".state.db.restore-*")); len(left) != 0 || fileExists(filepath.Join(dir, "old.2")) {
		t.Errorf("a failed Replace left %v or kept another copy", left)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
