package scheduler

// The queue's order: priority first, then submit time and id, sorted as
// small fixed-size keys so a pass over 100,000 jobs stays cheap.

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// cmpEntry is the queue order: higher priority, then earlier submit, then lower id.
func cmpEntry(a, b entry) int {
	return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.submit, b.submit), cmp.Compare(a.id, b.id))
}

// queueOrder returns the indices of w in queue order. A comparison sort of
// 100,000 entries was a quarter of a pass; an LSD radix sort on the 64-bit
// priority key is linear, and only runs of equal priority still need
// comparing. Returning indices rather than a sorted copy spares the GC 5 MB.
func queueOrder(w []entry) []int32 {
	n := len(w)
	order := make([]int32, n)
	byEntry := func(x, y int32) int { return cmpEntry(w[x], w[y]) }
	if n < 512 {
		for i := range order {
			order[i] = int32(i)
		}
		slices.SortFunc(order, byEntry)
		return order
	}
	// The tie-break fields travel with the key so equal-priority runs are
	// sorted without reaching back into w.
	type kv struct {
		key    uint64
		submit time.Duration
		id     uint64
		i      int32
	}
	a, b := make([]kv, n), make([]kv, n)
	for i := range w {
		a[i] = kv{w[i].key, w[i].submit, w[i].id, int32(i)}
	}
	var count [256]int
	for shift := 0; shift < 64; shift += 8 {
		clear(count[:])
		for _, x := range a {
			count[byte(x.key>>shift)]++
		}
		if count[byte(a[0].key>>shift)] == n {
			continue // every key has this digit: the pass would change nothing
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, x := range a {
			d := byte(x.key >> shift)
			b[count[d]] = x
			count[d]++
		}
		a, b = b, a
	}
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && a[hi].key == a[lo].key {
			hi++
		}
		if hi-lo > 1 {
			slices.SortFunc(a[lo:hi], func(x, y kv) int {
				return cmp.Or(cmp.Compare(x.submit, y.submit), cmp.Compare(x.id, y.id))
			})
		}
		lo = hi
	}
	for i, x := range a {
		order[i] = x.i
	}
	return order
}

// descKey maps a priority to an integer whose ascending order is the
// priority's descending order (IEEE 754 bits, sign folded), so the sort
// compares integers. NaN cannot occur: Priority is finite for finite weights.
func descKey(f float64) uint64 {
	if f == 0 {
		f = 0 // fold -0 into +0 so they tie as they compare equal
	}
	b := math.Float64bits(f)
	if b>>63 != 0 {
		b = ^b
	} else {
		b |= 1 << 63
	}
	return ^b
}
