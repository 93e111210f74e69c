package accounting

import (
	"errors"
	"math"
	"testing"
)

// The energy of the down-sampled curve must stay within 1 % of the
// original's; bucket means make it equal up to rounding, which is asserted
// too, so a change that only stays under 1 % is noticed.
func TestPropertyDownsampleKeepsEnergy(t *testing.T) {
	r := rng(20)
	for i := range 50 {
		pr := bursty(r, 3600, 90, 400)
		s := sampleProfile(pr, r, 0, 3600, 0.1+r.Float64(), 0.1)
		opt := Options{CounterMax: 4294.967296}
		if i%2 == 1 {
			var xs []float64
			for _, x := range s {
				xs = append(xs, x.Time.Sub(base).Seconds())
			}
			s = counterTrace(pr, xs, 4000*r.Float64(), opt.CounterMax)
		}
		maxPoints := 3 + r.IntN(1000)
		d, err := Downsample(s, maxPoints, opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(d) > maxPoints {
			t.Fatalf("trial %d: %d points, max %d", i, len(d), maxPoints)
		}
		from, to := s[0].Time, s[len(s)-1].Time
		want := mustIntegrate(t, s, from, to, opt).Joules
		got := mustIntegrate(t, d, from, to, Options{Interval: to.Sub(from) / 2}).Joules
		if rel := relErr(got, want); rel > 0.01 || rel > 1e-9 {
			t.Fatalf("trial %d (%d points, counter %v): energy %g, original %g (rel %g)", i, maxPoints, s[0].Counter, got, want, rel)
		}
		if d[0].Time != from || d[len(d)-1].Time != to {
			t.Fatalf("trial %d: span %v-%v, want %v-%v", i, d[0].Time, d[len(d)-1].Time, from, to)
		}
		for k := 1; k < len(d); k++ {
			if d[k].Time.Before(d[k-1].Time) || d[k].Watts < 0 {
				t.Fatalf("trial %d: point %d: %+v after %+v", i, k, d[k], d[k-1])
			}
		}
	}
}

func TestDownsampleShape(t *testing.T) {
	w := func(x, p float64) Sample { return Sample{Time: at(x), Watts: p} }
	short := []Sample{w(0, 1), w(1, 2)}
	if d, _ := Downsample(short, 10, Options{}); len(d) != 2 || d[1] != short[1] {
		t.Errorf("short input changed: %+v", d)
	}
	// 0-10 s at 100 W then 10-20 s at 300 W, sampled every 0.5 s; four
	// buckets of 5 s.
	var s []Sample
	for x := 0.0; x <= 20; x += 0.5 {
		p := 100.0
		if x > 10 {
			p = 300
		}
		s = append(s, w(x, p))
	}
	d, err := Downsample(s, 6, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantX := []float64{0, 2.5, 7.5, 12.5, 17.5, 20}
	// Bucket 10-15 s holds the ramp from 100 W at 10 s to 300 W at 10.5 s.
	wantP := []float64{100, 100, 100, 290, 300, 300}
	if len(d) != len(wantX) {
		t.Fatalf("%d points: %+v", len(d), d)
	}
	for k := range d {
		if d[k].Time != at(wantX[k]) || math.Abs(d[k].Watts-wantP[k]) > 1e-9 {
			t.Errorf("point %d = (%v, %g), want (%v, %g)", k, d[k].Time.Sub(base), d[k].Watts, wantX[k], wantP[k])
		}
	}
	// Unsorted input is sorted; readings of the other kind are dropped
	// when counters are kept.
	mixed := []Sample{
		{Time: at(2), Joules: 300, Counter: true}, w(0, 5), {Time: at(0), Joules: 100, Counter: true},
		{Time: at(1), Joules: 150, Counter: true}, {Time: at(3), Joules: 400, Counter: true}, w(1, 5),
	}
	d, err = Downsample(mixed, 3, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 3 || !d[0].Counter || d[0].Joules != 100 || d[2].Joules != 400 || d[2].Time != at(3) {
		t.Errorf("mixed: %+v", d)
	}
	if _, err := Downsample([]Sample{w(0, math.NaN()), w(1, 1), w(2, 1), w(3, 1)}, 3, Options{}); !errors.Is(err, ErrBadSample) {
		t.Errorf("NaN: err = %v", err)
	}
}
