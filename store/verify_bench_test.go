package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bmc-sched/bmc/job"
)

// benchState writes a state file of n ended jobs, each with four events and
// a realistic record (spec, paths, environment), closed. bench/README.md
// quotes what checking it costs at Open.
func benchState(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "state.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for done := 0; done < n; {
		err := s.Update(func(tx *Tx) error {
			for i := 0; i < 10000 && done < n; i++ {
				j := &job.Job{User: "ann", Cwd: "/home/ann/sweep", State: job.Completed, ArrayTaskID: -1, SubmitTime: t0,
					Spec: job.Spec{Name: "sweep", Image: "oci:/srv/images/app:1.2", Command: job.Command{Argv: []string{"/app/run --fast --seed 42"}, Shell: true},
						Environment: map[string]string{"OMP_NUM_THREADS": "8", "DATA": "/scratch/ann/in"}}}
				if err := tx.NewJob(j, job.Event{Time: t0, State: job.Pending, Reason: "submitted"}); err != nil {
					return err
				}
				for _, st := range []job.State{job.Allocated, job.Running, job.Completed} {
					if err := tx.AddEvent(j.ID, job.Event{Time: t0, State: st, Node: "node042", Detail: "exit 0"}); err != nil {
						return err
					}
				}
				done++
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkOpenCheck: the page check alone (checkFile), bbolt's Tx.Check on
// top (Verify, read-only), a bare bolt.Open (what Open did before), and a
// whole Open: lock, both checks, map, and the schema key's commit; then a
// backup of the open store.
func BenchmarkOpenCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		path := benchState(b, n)
		fi, _ := os.Stat(path)
		b.Run(fmt.Sprintf("pages/jobs=%d", n), func(b *testing.B) {
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				if err := checkFile(path, f); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
			b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
		})
		b.Run(fmt.Sprintf("verify/jobs=%d", n), func(b *testing.B) {
			for b.Loop() {
				if err := Verify(path); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("bbolt-open/jobs=%d", n), func(b *testing.B) {
			// The baseline: what Open did before the checks.
			for b.Loop() {
				db, err := bolt.Open(path, 0o600, &bolt.Options{InitialMmapSize: initialMmapSize})
				if err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
		})
		b.Run(fmt.Sprintf("open/jobs=%d", n), func(b *testing.B) {
			for b.Loop() {
				s, err := Open(path, Options{})
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
		b.Run(fmt.Sprintf("backup/jobs=%d", n), func(b *testing.B) {
			// WriteBackup: copy, fsync, verify, rename.
			s, err := Open(path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			dst := filepath.Join(b.TempDir(), "backup.db")
			for b.Loop() {
				if err := s.WriteBackup(dst); err != nil {
					b.Fatal(err)
				}
			}
			fi, _ := os.Stat(dst)
			b.ReportMetric(float64(fi.Size())/(1<<20), "backup-MiB")
		})
	}
}
