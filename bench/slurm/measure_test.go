package main

import "testing"

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want stats
	}{
		{[]float64{3}, stats{3, 3, 3}},
		{[]float64{5, 1, 3}, stats{3, 1, 5}},
		{[]float64{4, 1, 3, 2}, stats{2.5, 1, 4}},
	} {
		if got := summary(tc.in); got != tc.want {
			t.Errorf("summary(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	in := []float64{2, 1}
	summary(in)
	if in[0] != 2 {
		t.Error("summary sorted its input")
	}
}

func TestRatios(t *testing.T) {
	if got := ratios([]float64{300, 200, 400}, []float64{100, 200, 100}); got != "3.00× (1.00–4.00)" {
		t.Errorf("ratios = %q", got)
	}
}
