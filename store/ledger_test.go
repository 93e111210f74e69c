package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func entry(id, boot uint64, phase string, joules float64) *LedgerEntry {
	return &LedgerEntry{
		Job: id, Boot: boot, Phase: phase, JobID: fmt.Sprint(id), User: "ann", Account: "physics", Node: "n1",
		Kind: "sim-x86", State: job.Completed, Start: t0, End: t0.Add(time.Second), Joules: joules, Method: "counter",
		Pieces:   []LedgerPiece{{Tariff: "day", PricePerKWh: 0.3, From: t0, To: t0.Add(time.Second), Joules: joules, Cost: 0.01}},
		Recorded: t0.Add(2 * time.Second),
	}
}

func TestLedgerPutOnceAndReadInKeyOrder(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	// Written out of order; read back by job, boot, then phase boot < run < off.
	put := []*LedgerEntry{
		entry(2, 1, PhaseOff, 1), entry(1, 2, PhaseBoot, 2), entry(1, 1, PhaseOff, 3),
		entry(1, 1, PhaseBoot, 4), entry(1, 1, PhaseRun, 5), entry(10, 1, PhaseBoot, 6),
	}
	err := s.Update(func(tx *Tx) error {
		for _, e := range put {
			if err := tx.PutLedgerEntry(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		put  *LedgerEntry
		want error
	}{
		{"same key again", entry(1, 1, PhaseRun, 99), ErrExists},
		{"unknown phase", entry(1, 3, "idle", 1), nil},
	} {
		err := s.Update(func(tx *Tx) error { return tx.PutLedgerEntry(tc.put) })
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}

	var all []string
	var job1 []LedgerEntry
	billed := map[[2]uint64]bool{}
	s.View(func(tx *Tx) error {
		if err := tx.ForEachLedgerEntry(func(e *LedgerEntry) error {
			all = append(all, fmt.Sprintf("%d/%d/%s=%g", e.Job, e.Boot, e.Phase, e.Joules))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if job1, err = tx.LedgerEntries(1); err != nil {
			t.Fatal(err)
		}
		for _, k := range [][2]uint64{{1, 1}, {1, 2}, {1, 3}, {2, 1}, {3, 1}, {10, 1}, {0, 0}} {
			billed[k] = tx.Billed(k[0], k[1])
		}
		return nil
	})
	if want := "[1/1/boot=4 1/1/run=5 1/1/off=3 1/2/boot=2 2/1/off=1 10/1/boot=6]"; fmt.Sprint(all) != want {
		t.Errorf("ForEachLedgerEntry: %v, want %s", all, want)
	}
	if len(job1) != 4 || !reflect.DeepEqual(&job1[1], entry(1, 1, PhaseRun, 5)) {
		t.Errorf("LedgerEntries(1): %d entries, second %+v", len(job1), job1[1])
	}
	want := map[[2]uint64]bool{{1, 1}: true, {1, 2}: true, {1, 3}: false, {2, 1}: true, {3, 1}: false, {10, 1}: true, {0, 0}: false}
	if !reflect.DeepEqual(billed, want) {
		t.Errorf("Billed: %v, want %v", billed, want)
	}
}
