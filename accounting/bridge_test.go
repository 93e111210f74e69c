package accounting

import (
	"math"
	"testing"
	"time"
)

func TestBridgeLoss(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	w := func(sec, watts float64) Sample {
		return Sample{Time: t0.Add(time.Duration(sec * float64(time.Second))), Watts: watts}
	}
	c := func(sec, joules float64) Sample {
		return Sample{Time: t0.Add(time.Duration(sec * float64(time.Second))), Joules: joules, Counter: true}
	}
	for _, tc := range []struct {
		name string
		s    []Sample
		want float64
	}{
		{"two readings bridge themselves", []Sample{w(0, 8), w(10, 44)}, 0},
		{"a steady draw", []Sample{w(0, 44), w(1, 44), w(2, 44), w(3, 44)}, 0},
		{"a ramp on its line", []Sample{w(0, 10), w(1, 20), w(2, 30)}, 0},
		// Standby, then a boot at 60 W: the readings' trapezoids are
		// 8+34+60+60 = 162 J, the line from 8 W to 60 W books 136 J.
		{"a power-on", []Sample{w(0, 8), w(1, 8), w(2, 60), w(3, 60), w(4, 60)}, 162 - 136},
		{"a dip", []Sample{w(0, 40), w(1, 20), w(2, 40)}, 20},
		{"a counter", []Sample{c(0, 100), c(1, 150), c(5, 400)}, 0},
		{"a counter that wrapped", []Sample{c(0, 100), c(1, 5), c(5, 400)}, math.Inf(1)},
		{"mixed kinds", []Sample{w(0, 40), c(1, 5), w(2, 40)}, math.Inf(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := BridgeLoss(tc.s); math.Abs(got-tc.want) > 1e-9 && got != tc.want {
				t.Errorf("BridgeLoss = %v J, want %v J", got, tc.want)
			}
		})
	}
}

// The line's own energy, which a controller weighs the loss against.
func TestBridgeLossBridged(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	s := []Sample{{Time: t0, Watts: 8}, {Time: t0.Add(2 * time.Second), Watts: 60}, {Time: t0.Add(4 * time.Second), Watts: 60}}
	if loss, bridged := BridgeLoss(s); bridged != 136 || loss != 52 {
		t.Errorf("BridgeLoss = %v J lost of %v J bridged, want 52 of 136", loss, bridged)
	}
}
