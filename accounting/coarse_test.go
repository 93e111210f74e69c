package accounting

import (
	"math"
	"testing"
	"time"
)

// TestCoarseCounterFallsBackToWatts: readings carrying both a counter and
// watts are billed from the counter unless its step is coarse for the
// window, and Method says which was used.
func TestCoarseCounterFallsBackToWatts(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	// series reads a machine drawing 60 W once a second for secs, with a
	// counter that starts at base and moves in steps of step joules (0:
	// exact); withWatts puts the watts into the counter readings.
	series := func(secs int, base, step float64, withWatts bool) []Sample {
		var s []Sample
		for i := 0; i <= secs; i++ {
			j := base + 60*float64(i)
			if step > 0 {
				j = step * math.Floor(j/step)
			}
			x := Sample{Time: t0.Add(time.Duration(i) * time.Second), Joules: j, Counter: true}
			if withWatts {
				x.Watts = 60
			}
			s = append(s, x)
		}
		return s
	}
	tests := []struct {
		name    string
		samples []Sample
		secs    int
		method  Method
		maxErr  float64 // joules
	}{
		{"an exact counter is used", series(60, 1e6, 0, true), 60, MethodCounter, 1e-6},
		{"Wh steps over a minute: watts", series(60, 1e6, 3600, true), 60, MethodWatts, 1e-6},
		{"Wh steps over ten hours: the counter", series(36000, 1e6, 3600, true), 36000, MethodCounter, 3600},
		{"float32 at 20 MWh (7 kJ steps) over 5 min: watts", series(300, 20_000*JoulesPerKWh, 7031.25, true), 300, MethodWatts, 1e-6},
		{"no watts to fall back on: the counter", series(60, 1e6, 3600, false), 60, MethodCounter, 3600},
		{"a counter that moves in whole 60 J: still exact, no stand-still", series(60, 1e6, 60, true), 60, MethodCounter, 1e-6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Integrate(tt.samples, t0, t0.Add(time.Duration(tt.secs)*time.Second), Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := 60 * float64(tt.secs)
			if r.Method != tt.method || math.Abs(r.Joules-want) > tt.maxErr || r.Estimated {
				t.Errorf("billed %.1f J by %s (estimated %v %v), want %.0f J ± %.0f by %s",
					r.Joules, r.Method, r.Estimated, r.Reasons, want, tt.maxErr, tt.method)
			}
		})
	}
}
