package accounting

import (
	"math"
	"testing"
	"time"
)

func TestCompactKeepsEveryWindowsEnergy(t *testing.T) {
	r := rng(7)
	steady := constWatts(0, 100, true) // a counter at a steady 100 W
	var steps []Sample                 // watts in steps: flat, then a ramp, then flat
	for x := 0; x <= 60; x++ {
		w := 50.0
		switch {
		case x > 20 && x <= 40:
			w = 50 + 5*float64(x-20)
		case x > 40:
			w = 150
		}
		steps = append(steps, Sample{Time: at(float64(x)), Watts: w})
	}
	noisy := sampleProfile(bursty(r, 100, 80, 250), r, 0, 100, 1, 0.1)
	wrapping := counterTrace(bursty(r, 100, 80, 250), []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 900, 1000)
	for _, tc := range []struct {
		name    string
		s       []Sample
		opt     Options
		maxKeep int
	}{
		{"steady counter", steady, Options{}, 21}, // one in 5 s, the gap limit
		{"steps", steps, Options{}, 16},
		{"noisy watts", noisy, Options{}, len(noisy)},
		{"wrapping counter", wrapping, Options{CounterMax: 1000}, len(wrapping)},
	} {
		c := Compact(tc.s, tc.opt)
		if len(c) > tc.maxKeep {
			t.Errorf("%s: kept %d of %d readings, want at most %d", tc.name, len(c), len(tc.s), tc.maxKeep)
		}
		first, last := tc.s[0].Time, tc.s[len(tc.s)-1].Time
		for i := 0; i < 50; i++ {
			a := first.Add(time.Duration(r.Int64N(int64(last.Sub(first)))))
			b := a.Add(time.Duration(r.Int64N(int64(last.Sub(a)) + 1)))
			want := mustIntegrate(t, tc.s, a, b, tc.opt)
			got := mustIntegrate(t, c, a, b, tc.opt)
			if math.Abs(got.Joules-want.Joules) > 1e-6*max(1, want.Joules) || got.Estimated != want.Estimated {
				t.Fatalf("%s: [%s, %s]: %.6f J compacted, %.6f J raw", tc.name, a.Sub(base), b.Sub(base), got.Joules, want.Joules)
			}
		}
	}
}
