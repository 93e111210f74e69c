package store

import (
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestUnbilledAndMeterPoints(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	err := s.Update(func(tx *Tx) error {
		for _, u := range []*Unbilled{
			{Node: "n2", Start: t0, End: t0.Add(time.Minute), Reason: "idle-on", Joules: 600, Meter: "model"},
			{Node: "n1", Start: t0.Add(time.Minute), End: t0.Add(2 * time.Minute), Reason: "standby", Joules: 5, Meter: "dcmi"},
			{Node: "n1", Start: t0, End: t0.Add(time.Minute), Reason: "power-off-failed", Joules: 300, Meter: "dcmi"},
			// The same stretch grown: replaces the first write.
			{Node: "n2", Start: t0, End: t0.Add(2 * time.Minute), Reason: "idle-on", Joules: 1200, Meter: "model"},
		} {
			if err := tx.PutUnbilled(u); err != nil {
				return err
			}
		}
		for i, j := range []float64{10, 30, 20} { // written out of time order
			at := t0.Add(time.Duration([]int{0, 2, 1}[i]) * time.Minute)
			if err := tx.PutMeterPoint(&MeterPoint{Node: "n1", Time: at, Joules: j, Meter: "dcmi", Last: Sample{Time: at, Watts: 5}}); err != nil {
				return err
			}
		}
		if err := tx.PutMeterPoint(&MeterPoint{Node: "n10", Time: t0.Add(time.Hour), Joules: 99}); err != nil {
			return err
		}
		return tx.PutUnbilled(&Unbilled{Node: "n1", Start: t0, End: t0.Add(-time.Second)})
	})
	if err == nil {
		t.Fatal("a stretch that ends before it starts was stored")
	}
	if err := s.Update(func(tx *Tx) error {
		if err := tx.PutUnbilled(&Unbilled{Node: "n2", Start: t0, End: t0.Add(2 * time.Minute), Reason: "idle-on", Joules: 1200, Meter: "model"}); err != nil {
			return err
		}
		if err := tx.PutUnbilled(&Unbilled{Node: "n1", Start: t0, End: t0.Add(time.Minute), Reason: "power-off-failed", Joules: 300}); err != nil {
			return err
		}
		for i, j := range []float64{10, 30, 20} {
			at := t0.Add(time.Duration([]int{0, 2, 1}[i]) * time.Minute)
			if err := tx.PutMeterPoint(&MeterPoint{Node: "n1", Time: at, Joules: j, Meter: "dcmi"}); err != nil {
				return err
			}
		}
		return tx.PutMeterPoint(&MeterPoint{Node: "n10", Time: t0.Add(time.Hour), Joules: 99})
	}); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		var got []string
		tx.ForEachUnbilled(func(u *Unbilled) error {
			got = append(got, u.Node+" "+u.Reason+" "+u.Start.Format("15:04")+"-"+u.End.Format("15:04"))
			return nil
		})
		want := []string{"n1 power-off-failed 12:00-12:01", "n2 idle-on 12:00-12:02"}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("unbilled %q, want %q", got, want)
		}
		pts, err := tx.MeterPoints("n1")
		if err != nil || len(pts) != 3 || pts[0].Joules != 10 || pts[1].Joules != 20 || pts[2].Joules != 30 {
			t.Errorf("meter points of n1: %+v, %v", pts, err)
		}
		last, ok, err := tx.LastMeterPoint("n1")
		if err != nil || !ok || last.Joules != 30 || !last.Time.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("last point of n1: %+v %v %v; want 30 J at 12:02 (n10's must not be taken)", last, ok, err)
		}
		if _, ok, _ := tx.LastMeterPoint("n"); ok {
			t.Error("node n has a last point; its prefix must not match n1")
		}
		last, ok, _ = tx.LastMeterPoint("n10")
		if !ok || last.Joules != 99 {
			t.Errorf("last point of n10 (the last key of the bucket): %+v %v", last, ok)
		}
		return nil
	})
}

// TestUpgradeV4AddsConservationBuckets opens a file of schema 4: the
// unbilled and meter buckets appear and take records.
func TestUpgradeV4AddsConservationBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, up := range upgrades[:4] {
			if err := up(tx); err != nil {
				return err
			}
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, 4))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, path)
	if err := s.Update(func(tx *Tx) error {
		if tx.tx.Bucket(bucketUnbilled) == nil || tx.tx.Bucket(bucketMeter) == nil {
			t.Error("schema 5's buckets are missing after the upgrade")
		}
		if v := binary.BigEndian.Uint32(tx.tx.Bucket(bucketMeta).Get(keySchema)); v != 5 {
			t.Errorf("schema %d after the upgrade, want 5", v)
		}
		return tx.PutUnbilled(&Unbilled{Node: "n1", Start: t0, End: t0, Reason: "standby"})
	}); err != nil {
		t.Fatal(err)
	}
}

func TestThinMeterPoints(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	// n1: a point a minute for three hours; n2: one point. Thin what is
	// older than 2 h to one an hour.
	err := s.Update(func(tx *Tx) error {
		for m := 0; m < 180; m++ {
			if err := tx.PutMeterPoint(&MeterPoint{Node: "n1", Time: t0.Add(time.Duration(m) * time.Minute), Joules: float64(m)}); err != nil {
				return err
			}
		}
		return tx.PutMeterPoint(&MeterPoint{Node: "n2", Time: t0, Joules: 7})
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.Update(func(tx *Tx) (err error) { n, err = tx.ThinMeterPoints(t0.Add(2*time.Hour), time.Hour); return err }); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		pts, _ := tx.MeterPoints("n1")
		var got []float64
		for _, p := range pts {
			if p.Time.Before(t0.Add(2 * time.Hour)) {
				got = append(got, p.Joules)
			}
		}
		// Each hour's first and last point before the cutoff, then all after it.
		if want := []float64{0, 59, 60, 119}; len(got) != len(want) || got[0] != 0 || got[1] != 59 || got[2] != 60 || got[3] != 119 {
			t.Errorf("points before the cutoff: %v, want %v", got, want)
		}
		if len(pts) != 4+60 || n != 120-4 {
			t.Errorf("%d points left, %d dropped", len(pts), n)
		}
		if p, _ := tx.MeterPoints("n2"); len(p) != 1 {
			t.Errorf("n2's only point: %v", p)
		}
		return nil
	})
}
