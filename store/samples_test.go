package store

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func chunk(nodeName string, id, boot uint64, fromSec, n int) *SampleChunk {
	c := &SampleChunk{Node: nodeName, Job: id, Boot: boot}
	for i := range n {
		at := t0.Add(time.Duration(fromSec+i) * time.Second)
		c.Samples = append(c.Samples, Sample{Time: at, Watts: 100, Joules: float64(100 * (fromSec + i)), Counter: true})
	}
	return c
}

func TestSamplesByBoot(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	rapl := chunk("n1", 1, 1, 10, 2)
	rapl.RAPL, rapl.CounterMax = true, 2000
	// n1 and n10 share a prefix as strings; job 1's chunks are on both
	// nodes and in two boots.
	for _, c := range []*SampleChunk{chunk("n1", 1, 1, 0, 3), rapl, chunk("n1", 1, 2, 20, 1), chunk("n10", 1, 1, 0, 2), chunk("n1", 2, 1, 0, 1)} {
		if err := s.Update(func(tx *Tx) error { return tx.AppendSamples(c) }); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*SampleChunk{{Node: "n1", Job: 1, Boot: 1}, {Node: "", Job: 1, Boot: 1, Samples: chunk("x", 1, 1, 0, 1).Samples}, {Node: "a\x00b", Samples: chunk("x", 1, 1, 0, 1).Samples}} {
		if err := s.Update(func(tx *Tx) error { return tx.AppendSamples(c) }); err == nil {
			t.Errorf("AppendSamples(%+v) accepted", c)
		}
	}

	boot := func(n string, id, b uint64) string {
		var got []SampleChunk
		s.View(func(tx *Tx) error {
			var err error
			got, err = tx.BootSamples(n, id, b)
			if err != nil {
				t.Fatal(err)
			}
			return nil
		})
		out := ""
		for _, c := range got {
			if c.Node != n || c.Job != id || c.Boot != b {
				t.Errorf("chunk of %s/%d/%d says %s/%d/%d", n, id, b, c.Node, c.Job, c.Boot)
			}
			out += fmt.Sprintf("[%d@%s rapl=%v max=%g]", len(c.Samples), c.Samples[0].Time.Sub(t0), c.RAPL, c.CounterMax)
		}
		return out
	}
	for _, tc := range []struct {
		node     string
		id, boot uint64
		want     string
	}{
		{"n1", 1, 1, "[3@0s rapl=false max=0][2@10s rapl=true max=2000]"},
		{"n1", 1, 2, "[1@20s rapl=false max=0]"},
		{"n10", 1, 1, "[2@0s rapl=false max=0]"},
		{"n1", 2, 1, "[1@0s rapl=false max=0]"},
		{"n1", 3, 1, ""},
		{"n", 1, 1, ""},
	} {
		if got := boot(tc.node, tc.id, tc.boot); got != tc.want {
			t.Errorf("BootSamples(%s, %d, %d) = %s, want %s", tc.node, tc.id, tc.boot, got, tc.want)
		}
	}

	// Billing drops the boot's chunks; a late flush of that boot is not
	// written again, and nothing else is touched.
	err := s.Update(func(tx *Tx) error {
		if err := tx.PutLedgerEntry(entry(1, 1, PhaseBoot, 1)); err != nil {
			return err
		}
		return tx.DropSamples("n1", 1, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx *Tx) error { return tx.AppendSamples(chunk("n1", 1, 1, 30, 1)) }); err != nil {
		t.Fatal(err)
	}
	if got := boot("n1", 1, 1); got != "" {
		t.Errorf("billed boot still has samples: %s", got)
	}
	var left []string
	s.View(func(tx *Tx) error {
		return tx.ForEachSampleChunk(func(c *SampleChunk) error {
			left = append(left, fmt.Sprintf("%s/%d/%d:%d", c.Node, c.Job, c.Boot, len(c.Samples)))
			return nil
		})
	})
	if want := []string{"n1/1/2:1", "n1/2/1:1", "n10/1/1:2"}; !reflect.DeepEqual(left, want) {
		t.Errorf("chunks left: %v, want %v", left, want)
	}
}

func TestCurvesByJob(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	curve := func(id, boot uint64, watts float64) *Curve {
		return &Curve{Job: id, Boot: boot, Node: "n1", PowerOn: t0, RunStart: t0.Add(time.Second), RunEnd: t0.Add(2 * time.Second),
			Off: t0.Add(3 * time.Second), Points: []Sample{{Time: t0, Watts: watts}, {Time: t0.Add(3 * time.Second), Watts: watts}}}
	}
	err := s.Update(func(tx *Tx) error {
		for _, c := range []*Curve{curve(1, 2, 20), curve(1, 1, 10), curve(2, 1, 30), curve(1, 1, 11)} {
			if err := tx.PutCurve(c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []Curve
	s.View(func(tx *Tx) error { got, err = tx.Curves(1); return err })
	if err != nil {
		t.Fatal(err)
	}
	if want := []Curve{*curve(1, 1, 11), *curve(1, 2, 20)}; !reflect.DeepEqual(got, want) {
		t.Errorf("Curves(1) = %+v, want %+v", got, want)
	}
	s.View(func(tx *Tx) error { got, err = tx.Curves(3); return err })
	if err != nil || len(got) != 0 {
		t.Errorf("Curves(3) = %v, %v", got, err)
	}
}

func TestReplaceAndRetainBilledSamples(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	old, recent := t0.Add(-100*24*time.Hour), t0
	err := s.Update(func(tx *Tx) error {
		for _, c := range []*SampleChunk{
			{Node: "n1", Job: 1, Boot: 1, Samples: []Sample{{Time: old, Watts: 1}}},
			{Node: "n1", Job: 1, Boot: 1, Samples: []Sample{{Time: old.Add(time.Second), Watts: 2}}},
			{Node: "n1", Job: 2, Boot: 1, Samples: []Sample{{Time: recent, Watts: 3}}},
			{Node: "n1", Job: 3, Boot: 1, Samples: []Sample{{Time: old, Watts: 4}}}, // not billed: kept
		} {
			if err := tx.AppendSamples(c); err != nil {
				return err
			}
		}
		for _, id := range []uint64{1, 2} {
			if err := tx.PutLedgerEntry(entry(id, 1, PhaseRun, 1)); err != nil {
				return err
			}
		}
		// Job 1's two chunks become one.
		return tx.ReplaceBootSamples(&SampleChunk{Node: "n1", Job: 1, Boot: 1, Samples: []Sample{{Time: old, Watts: 1}, {Time: old.Add(time.Second), Watts: 2}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		chunks, err := tx.BootSamples("n1", 1, 1)
		if err != nil || len(chunks) != 1 || len(chunks[0].Samples) != 2 {
			t.Errorf("job 1 after the replace: %+v %v", chunks, err)
		}
		return nil
	})
	var n int
	if err := s.Update(func(tx *Tx) (err error) {
		n, err = tx.DropBilledSamplesBefore(t0.Add(-90 * 24 * time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	left := map[uint64]int{}
	s.View(func(tx *Tx) error {
		return tx.ForEachSampleChunk(func(c *SampleChunk) error { left[c.Job]++; return nil })
	})
	if n != 1 || left[1] != 0 || left[2] != 1 || left[3] != 1 {
		t.Errorf("dropped %d; left %v; want job 1's old billed chunk gone, the recent and the unbilled kept", n, left)
	}
}
