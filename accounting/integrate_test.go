package accounting

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestIntegrateTable(t *testing.T) {
	w := func(x, p float64) Sample { return Sample{Time: at(x), Watts: p} }
	c := func(x, j float64) Sample { return Sample{Time: at(x), Joules: j, Counter: true} }
	tests := []struct {
		name      string
		samples   []Sample
		from, to  float64
		opt       Options
		want      float64
		estimated bool
		reason    string // a substring of one reason, when estimated
		method    Method
		coverage  float64
		count     int
	}{
		{name: "constant on the grid", samples: []Sample{w(0, 100), w(1, 100), w(2, 100)}, from: 0, to: 2, want: 200, method: MethodWatts, coverage: 1, count: 3},
		{name: "trapezoid of a step", samples: []Sample{w(0, 100), w(1, 300)}, from: 0, to: 1, want: 200, method: MethodWatts, coverage: 1, count: 2},
		{name: "edges interpolated", samples: []Sample{w(0, 100), w(1, 300), w(2, 300)},
			// [0.5, 1]: from 200 W to 300 W → 125 J; [1, 1.5]: 150 J.
			from: 0.5, to: 1.5, want: 275, method: MethodWatts, coverage: 1, count: 1},
		{name: "window inside one interval", samples: []Sample{w(0, 0), w(1, 100)}, from: 0.25, to: 0.75, want: 25, method: MethodWatts, coverage: 1, count: 0},
		{name: "held before the first reading within the limit", samples: []Sample{w(1, 50), w(2, 50)}, from: 0, to: 2, want: 100, method: MethodWatts, coverage: 1, count: 2},
		{name: "held after the last reading beyond the limit", samples: []Sample{w(0, 50), w(1, 50)}, from: 0, to: 11,
			want: 550, estimated: true, reason: "no power samples in the last 10.0s", method: MethodWatts, coverage: 1.0 / 11, count: 2},
		{name: "gap bridged and flagged", samples: []Sample{w(0, 100), w(1, 100), w(13, 100), w(14, 100)}, from: 0, to: 14,
			want: 1400, estimated: true, reason: "gap of 12.0s in power samples at 2026-11-25T10:00:01.000Z (limit 5s); bridged by linear interpolation", method: MethodWatts, coverage: 2.0 / 14, count: 4},
		{name: "gap exactly at the limit is measured", samples: []Sample{w(0, 100), w(5, 100)}, from: 0, to: 5, want: 500, method: MethodWatts, coverage: 1, count: 2},
		{name: "gap limit from options", samples: []Sample{w(0, 100), w(5, 100)}, from: 0, to: 5, opt: Options{Interval: 2 * time.Second, MaxGapIntervals: 2},
			want: 500, estimated: true, reason: "(limit 4s)", method: MethodWatts, coverage: 0, count: 2},
		{name: "no samples at all", samples: nil, from: 0, to: 10, want: 0, estimated: true, reason: "no power samples", method: MethodNone, coverage: 0},
		{name: "no samples in window, nearest far away", samples: []Sample{w(0, 100), w(100, 300)}, from: 40, to: 50,
			// Interpolated: 180 W at 40 s, 200 W at 50 s → 1900 J.
			want: 1900, estimated: true, reason: "no power samples in the window; estimated from the nearest readings", method: MethodWatts, count: 0},
		{name: "window after all readings", samples: []Sample{w(0, 100), w(1, 120)}, from: 100, to: 110,
			want: 1200, estimated: true, reason: "no power samples in the window", method: MethodWatts, count: 0},
		{name: "zero-length window", samples: []Sample{w(0, 100), w(1, 100)}, from: 0.5, to: 0.5, want: 0, method: MethodWatts, coverage: 1},
		{name: "counter", samples: []Sample{c(0, 1000), c(1, 1100), c(2, 1300)}, from: 0, to: 2, want: 300, method: MethodCounter, coverage: 1, count: 3},
		{name: "counter edges interpolated", samples: []Sample{c(0, 1000), c(1, 1100), c(2, 1300)}, from: 0.5, to: 1.5, want: 150, method: MethodCounter, coverage: 1, count: 1},
		{name: "counter wrap", samples: []Sample{c(0, 900), c(1, 50), c(2, 250)}, from: 0, to: 2, opt: Options{CounterMax: 1000},
			want: 350, method: MethodCounter, coverage: 1, count: 3},
		{name: "counter gap inside the window is exact", samples: []Sample{c(0, 0), c(1, 100), c(61, 6100), c(62, 6200)}, from: 0, to: 62,
			want: 6200, method: MethodCounter, coverage: 1, count: 4},
		{name: "window edge in a counter gap", samples: []Sample{c(0, 0), c(60, 6000)}, from: 30, to: 60,
			want: 3000, estimated: true, reason: "window edge falls in a gap of 60.0s between energy-counter readings", method: MethodCounter, count: 1},
		{name: "counter readings at one instant", samples: []Sample{c(0, 4200), c(1, 4290), c(1, 5), c(2, 100)}, from: 0, to: 2, opt: Options{CounterMax: 4295},
			want: 195, method: MethodCounter, coverage: 1, count: 4},
		{name: "counter reset", samples: []Sample{c(0, 5000), c(1, 5100), c(2, 30), c(3, 130)}, from: 0, to: 3,
			want: 230, estimated: true, reason: "energy counter reset at 2026-11-25T10:00:02.000Z (from 5100.0 J to 30.0 J", method: MethodCounter, coverage: 1, count: 4},
		{name: "counter reset without modulus is not a wrap", samples: []Sample{c(0, 900), c(1, 50)}, from: 0, to: 1,
			want: 50, estimated: true, reason: "counter reset", method: MethodCounter, coverage: 1, count: 2},
		{name: "counter glitch counts nothing", samples: []Sample{c(0, 5000), c(1, 4990), c(2, 5090)}, from: 0, to: 2,
			want: 100, estimated: true, reason: "went backwards", method: MethodCounter, coverage: 1, count: 3},
		{name: "single counter reading", samples: []Sample{c(0, 5000)}, from: 0, to: 2,
			want: 0, estimated: true, reason: "only one energy-counter reading", method: MethodCounter, count: 1},
		{name: "counter preferred over watts", samples: []Sample{w(0, 999), c(0, 0), w(1, 999), c(1, 100), w(2, 999), c(2, 200)}, from: 0, to: 2,
			want: 200, method: MethodCounter, coverage: 1, count: 3},
		{name: "watts win when the counter covers less", samples: []Sample{c(0, 0), w(0, 100), c(0.5, 50), w(1, 100), w(2, 100), w(3, 100), w(4, 100), w(5, 100), w(6, 100), w(7, 100), w(8, 100), w(9, 100), w(10, 100)},
			from: 0, to: 10, want: 1000, method: MethodWatts, coverage: 1, count: 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustIntegrate(t, tt.samples, at(tt.from), at(tt.to), tt.opt)
			if math.Abs(r.Joules-tt.want) > 1e-9*max(1, tt.want) {
				t.Errorf("joules = %.12g, want %.12g", r.Joules, tt.want)
			}
			if r.Estimated != tt.estimated {
				t.Errorf("estimated = %v, want %v (reasons %q)", r.Estimated, tt.estimated, r.Reasons)
			}
			if r.Estimated != (len(r.Reasons) > 0) {
				t.Errorf("estimated = %v but reasons %q", r.Estimated, r.Reasons)
			}
			if tt.reason != "" && !strings.Contains(strings.Join(r.Reasons, "\n"), tt.reason) {
				t.Errorf("reasons %q lack %q", r.Reasons, tt.reason)
			}
			if r.Method != tt.method {
				t.Errorf("method = %q, want %q", r.Method, tt.method)
			}
			if math.Abs(r.Coverage-tt.coverage) > 1e-9 {
				t.Errorf("coverage = %g, want %g", r.Coverage, tt.coverage)
			}
			if r.Samples != tt.count {
				t.Errorf("samples = %d, want %d", r.Samples, tt.count)
			}
		})
	}
}

func TestIntegrateErrors(t *testing.T) {
	ok := []Sample{{Time: at(0), Watts: 1}, {Time: at(1), Watts: 1}}
	tests := []struct {
		name     string
		samples  []Sample
		from, to float64
		opt      Options
		want     error
	}{
		{name: "window backwards", samples: ok, from: 1, to: 0, want: ErrWindow},
		{name: "unsorted", samples: []Sample{{Time: at(1), Watts: 1}, {Time: at(0), Watts: 1}}, from: 0, to: 1, want: ErrUnsorted},
		{name: "NaN watts", samples: []Sample{{Time: at(0), Watts: math.NaN()}, {Time: at(1), Watts: 1}}, from: 0, to: 1, want: ErrBadSample},
		{name: "negative watts", samples: []Sample{{Time: at(0), Watts: -3}, {Time: at(1), Watts: 1}}, from: 0, to: 1, want: ErrBadSample},
		{name: "infinite counter", samples: []Sample{{Time: at(0), Joules: math.Inf(1), Counter: true}, {Time: at(1), Joules: 1, Counter: true}}, from: 0, to: 1, want: ErrBadSample},
		{name: "negative interval", samples: ok, from: 0, to: 1, opt: Options{Interval: -time.Second}, want: ErrOptions},
		{name: "negative gap intervals", samples: ok, from: 0, to: 1, opt: Options{MaxGapIntervals: -1}, want: ErrOptions},
		{name: "NaN counter max", samples: ok, from: 0, to: 1, opt: Options{CounterMax: math.NaN()}, want: ErrOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Integrate(tt.samples, at(tt.from), at(tt.to), tt.opt)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// Many gaps produce a bounded list of reasons.
func TestIntegrateReasonsBounded(t *testing.T) {
	var s []Sample
	for i := range 100 {
		s = append(s, Sample{Time: at(float64(i * 10)), Watts: 10})
	}
	r := mustIntegrate(t, s, at(0), at(990), Options{})
	if len(r.Reasons) != maxDetailedReasons+1 {
		t.Fatalf("%d reasons, want %d: %q", len(r.Reasons), maxDetailedReasons+1, r.Reasons)
	}
	if want := "and 91 more irregularities"; !strings.Contains(r.Reasons[maxDetailedReasons], want) {
		t.Errorf("last reason %q lacks %q", r.Reasons[maxDetailedReasons], want)
	}
	if r.Joules != 9900 {
		t.Errorf("joules = %g, want 9900", r.Joules)
	}
}
