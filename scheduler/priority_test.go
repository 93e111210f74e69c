package scheduler

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestSortWaiting checks the radix sort against a comparison sort, with many
// equal priorities and submit times so every tie-break is exercised.
func TestQueueOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{0, 1, 511, 512, 5000} {
		w := make([]entry, n)
		for i := range w {
			prio := float64(r.IntN(50)) - 25 + []float64{0, 0.5, 1e-9}[r.IntN(3)]
			w[i] = entry{key: descKey(prio), prio: prio, submit: time.Duration(r.IntN(20)) * time.Second,
				id: uint64(r.IntN(1 << 30)), j: int32(i)}
		}
		want := slices.Clone(w)
		slices.SortFunc(want, func(a, b entry) int {
			switch {
			case a.prio > b.prio:
				return -1
			case a.prio < b.prio:
				return 1
			}
			return cmp.Or(cmp.Compare(a.submit, b.submit), cmp.Compare(a.id, b.id), cmp.Compare(a.j, b.j))
		})
		var got []entry
		for _, i := range queueOrder(w) {
			got = append(got, w[i])
		}
		if !slices.EqualFunc(got, want, func(a, b entry) bool { return a.prio == b.prio && a.submit == b.submit && a.id == b.id }) {
			t.Errorf("n=%d: radix order differs from comparison order", n)
		}
	}
}

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

func TestFormats(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 15 * time.Second: "15s", time.Minute: "1m",
		90 * time.Second: "1m30s", time.Hour: "1h", 3610 * time.Second: "1h0m10s", 1500 * time.Millisecond: "2s",
		10 * time.Second: "10s", 2*time.Hour + 10*time.Minute: "2h10m"} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
	for b, want := range map[int64]string{0: "0 B", 512: "512 B", 3 << 20: "3 MiB", 1 << 30: "1 GiB",
		3 << 29: "1.5 GiB", 16 << 30: "16 GiB", 5<<30 + 1<<20: "5 GiB"} {
		if got := fmtBytes(b); got != want {
			t.Errorf("fmtBytes(%d) = %q, want %q", b, got, want)
		}
	}
}
