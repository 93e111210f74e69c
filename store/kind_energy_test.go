package store

import (
	"path/filepath"
	"testing"
)

func TestKindEnergy(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	e := func(id uint64, phase, kind string, joules, secs, coverage float64, est bool) *LedgerEntry {
		x := entry(id, 1, phase, joules)
		x.Kind, x.Duration, x.Coverage, x.Estimated = kind, secs, coverage, est
		return x
	}
	put := []*LedgerEntry{
		e(1, PhaseBoot, "big", 30000, 120, 1, false),
		e(1, PhaseRun, "big", 200*600, 600, 1, false),
		e(2, PhaseBoot, "big", 40000, 130, 1, false),
		e(2, PhaseRun, "big", 150*100, 100, 0.9, false),
		e(3, PhaseBoot, "big", 1e6, 100, 1, true),    // estimated: left out
		e(4, PhaseBoot, "big", 1e6, 100, 0.2, false), // too few samples
		e(5, PhaseRun, "big", 10*30, 30, 1, false),   // too short
		e(6, PhaseBoot, "small", 900, 30, 1, false),
	}
	if err := s.Update(func(tx *Tx) error {
		for _, x := range put {
			if err := tx.PutLedgerEntry(x); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got map[string]KindEnergy
	if err := s.View(func(tx *Tx) (err error) { got, err = tx.KindEnergy(); return err }); err != nil {
		t.Fatal(err)
	}
	want := map[string]KindEnergy{
		"big":   {Boots: 2, BootJoules: 35000, Runs: 2, LowWatts: 150},
		"small": {Boots: 1, BootJoules: 900},
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %+v, want %+v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("kinds %v, want %v", got, want)
	}
}
