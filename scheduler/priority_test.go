package scheduler

import (
	"math"
	"slices"
	"testing"
)

func TestDescKey(t *testing.T) {
	fs := []float64{math.Inf(1), 1e300, 2500.5, 1000, 1, 1e-300, 0, math.Copysign(0, -1), -1e-300, -1, -1000, -1e300, math.Inf(-1)}
	for i := 1; i < len(fs); i++ {
		a, b := descKey(fs[i-1]), descKey(fs[i])
		if fs[i-1] == fs[i] && a != b || fs[i-1] > fs[i] && a >= b {
			t.Errorf("descKey(%v)=%x, descKey(%v)=%x: order lost", fs[i-1], a, fs[i], b)
		}
	}
	if !slices.IsSortedFunc(fs, func(a, b float64) int { return -cmpFloat(a, b) }) {
		t.Fatal("test table not sorted high to low")
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
