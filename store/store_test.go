package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestNewJobsAreDurableAndOrdered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		err := s.Update(func(tx *Tx) error {
			j := &job.Job{User: "ann", State: job.Pending, ArrayTaskID: -1, SubmitTime: t0}
			return tx.NewJob(j, job.Event{Time: t0, State: job.Pending, Reason: "submitted"})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.Update(func(tx *Tx) error {
		return tx.AddEvent(2, job.Event{Time: t0.Add(time.Second), State: job.Cancelled})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, path)
	var ids []uint64
	err = s.View(func(tx *Tx) error {
		return tx.ForEachJob(func(j *job.Job) error { ids = append(ids, j.ID); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != "[1 2 3]" {
		t.Fatalf("ids after reopen = %v, want [1 2 3]", ids)
	}
	var evs []job.Event
	s.View(func(tx *Tx) error { evs, err = tx.Events(2); return err })
	if len(evs) != 2 || evs[0].State != job.Pending || evs[1].State != job.Cancelled {
		t.Fatalf("events of job 2 = %+v", evs)
	}
	s.View(func(tx *Tx) error { evs, err = tx.Events(3); return err })
	if len(evs) != 1 {
		t.Fatalf("events of job 3 = %+v, want only its own", evs)
	}
	var got error
	s.View(func(tx *Tx) error { _, got = tx.Job(99); return nil })
	if !errors.Is(got, ErrNotFound) {
		t.Fatalf("missing job: err = %v, want ErrNotFound", got)
	}
}

func TestConcurrentBatchSubmitsGetUniqueIDs(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	const writers, each = 16, 50
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var id uint64
				err := s.Batch(func(tx *Tx) error {
					j := &job.Job{State: job.Pending, ArrayTaskID: -1}
					if err := tx.NewJob(j, job.Event{State: job.Pending}); err != nil {
						return err
					}
					id = j.ID
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("id %d handed out twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != writers*each {
		t.Fatalf("%d ids, want %d", len(seen), writers*each)
	}
}

func TestNodesRoundTrip(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	n := &node.Node{Config: node.Config{Name: "n1", Arch: "x86_64", Cores: 4}, State: node.Down, Reason: "BMC unreachable"}
	if err := s.Update(func(tx *Tx) error { return tx.PutNode(n) }); err != nil {
		t.Fatal(err)
	}
	var got []*node.Node
	s.View(func(tx *Tx) error {
		return tx.ForEachNode(func(n *node.Node) error { got = append(got, n); return nil })
	})
	if len(got) != 1 || got[0].Reason != "BMC unreachable" || got[0].Cores != 4 {
		t.Fatalf("nodes = %+v", got)
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	s.Close()

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
	})
	db.Close()
	if _, err := Open(path, Options{}); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("open of a newer schema: err = %v, want ErrNewerSchema", err)
	}
}

func TestUpgradeFromEmptyFileCreatesBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := open(t, path)
	s.Close()
	db, err = bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketJobs, bucketEvents, bucketNodes, bucketLedger, bucketSamples, bucketCurves} {
			if tx.Bucket(b) == nil {
				t.Errorf("bucket %s missing after upgrade", b)
			}
		}
		return nil
	})
}

func TestSecondOpenTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	open(t, path)
	_, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if err == nil || !errors.Is(err, bolt.ErrTimeout) {
		t.Fatalf("second open: err = %v, want a lock timeout", err)
	}
}

func TestBatchFailureIsTheCallersOwn(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	boom := errors.New("boom")
	const writers = 12
	errs := make([]error, writers)
	ids := make([]uint64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = s.Batch(func(tx *Tx) error {
				j := &job.Job{State: job.Pending, ArrayTaskID: -1}
				if err := tx.NewJob(j, job.Event{State: job.Pending}); err != nil {
					return err
				}
				ids[w] = j.ID
				if w%4 == 0 {
					return fmt.Errorf("writer %d: %w", w, boom)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	stored := map[uint64]bool{}
	s.View(func(tx *Tx) error {
		return tx.ForEachJob(func(j *job.Job) error { stored[j.ID] = true; return nil })
	})
	for w, err := range errs {
		if w%4 == 0 {
			if !errors.Is(err, boom) {
				t.Errorf("writer %d: err = %v, want its own failure", w, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("writer %d: err = %v, want nil (another writer's failure is not its own)", w, err)
		}
		if !stored[ids[w]] {
			t.Errorf("writer %d: job %d not stored", w, ids[w])
		}
	}
	if len(stored) != writers-writers/4 {
		t.Errorf("%d jobs stored, want %d (failed writers leave nothing)", len(stored), writers-writers/4)
	}
}

func TestBatchAfterCloseFails(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Batch(func(*Tx) error { return nil }); err == nil {
		t.Fatal("Batch after Close succeeded")
	}
}

func FuzzBatchOutcome(f *testing.F) {
	f.Add(uint16(0b1010), uint8(7))
	f.Fuzz(func(t *testing.T, failMask uint16, n uint8) {
		n = n%16 + 1
		s := open(t, filepath.Join(t.TempDir(), "state.db"))
		errs := make([]error, n)
		var wg sync.WaitGroup
		for w := range int(n) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[w] = s.Batch(func(tx *Tx) error {
					if err := tx.NewJob(&job.Job{State: job.Pending, ArrayTaskID: -1}, job.Event{}); err != nil {
						return err
					}
					if failMask&(1<<w) != 0 {
						return errors.New("fail")
					}
					return nil
				})
			}()
		}
		wg.Wait()
		want := 0
		for w, err := range errs {
			if (err != nil) != (failMask&(1<<w) != 0) {
				t.Fatalf("writer %d: err = %v, mask %b", w, err, failMask)
			}
			if err == nil {
				want++
			}
		}
		got := 0
		s.View(func(tx *Tx) error { return tx.ForEachJob(func(*job.Job) error { got++; return nil }) })
		if got != want {
			t.Fatalf("%d jobs stored, want %d", got, want)
		}
	})
}
