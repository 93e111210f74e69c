// Package memlimit owns bmcctld's default soft memory limit: it keeps the Go
// runtime's limit a little above what the heap really holds, so the daemon's
// resident size follows its live data instead of twice it.
//
// With the default GOGC=100 the heap may grow to twice the live heap before a
// collection, and freed pages go back to the system only slowly: bmcctld with
// 10,000 pending jobs (~11 MB live) sat at 45–62 MB resident. A fixed
// GOMEMLIMIT cannot be the default either: once the live heap outgrows it,
// the collector runs back to back. The limit here is recomputed from the live
// heap, so it always leaves headroom in proportion to it (GOGC still applies
// and wins when its goal is lower).
//
// The headroom is for busy times. When the daemon falls quiet, whatever
// garbage the last requests left (a listing, a burst of submits) would stay
// resident until the next collection, which a quiet daemon never reaches:
// so once a period passes with next to no allocation, one collection runs and
// the freed pages go back to the system. A busy daemon never pays for it.
package memlimit

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
)

// Policy says how much room the limit leaves above the live heap.
type Policy struct {
	// Fraction of the live heap allowed as garbage between collections.
	Fraction float64
	// MinHeadroom is the least room above the live heap, so that a small
	// heap is not collected after every few allocations.
	MinHeadroom uint64
	// QuietAlloc is the most a period may allocate and still count as
	// quiet: a submit allocates tens of KiB, so a loop of them is busy.
	QuietAlloc uint64
	// TrimAbove is how much heap memory above the live heap a quiet
	// daemon may keep before it collects and returns the rest.
	TrimAbove uint64
}

// DefaultPolicy leaves half the live heap, at least 8 MiB: GOGC=50 with a
// floor, plus prompt return of freed pages (the runtime scavenges to stay
// under a limit, which GOGC alone does not make it do). With a 4 MiB floor
// the collector ran all the time under 16 API clients submitting to a
// small queue and bmcctld's CPU per submit doubled (bench/core, 160-200 ->
// 390-410 us); with 8 MiB it is back at 194 us, and resident memory at
// 10,000 pending stays near 40 MB (bench/README.md).
//
// A quiet second (under 1 MiB allocated) with over 2 MiB of heap above the
// live data collects once: at 10,000 pending that is ~4 ms of CPU after each
// busy spell, and resident memory falls back to the live heap's.
func DefaultPolicy() Policy {
	return Policy{Fraction: 0.5, MinHeadroom: 8 << 20, QuietAlloc: 1 << 20, TrimAbove: 2 << 20}
}

// Usage is what the runtime reports: the live heap after the last
// collection, and the memory the limit counts that is not heap (stacks,
// runtime metadata), which the limit must leave room for as well.
type Usage struct {
	Live    uint64
	NonHeap uint64
	// Held is the heap memory the process keeps from the system: live
	// objects, garbage not yet collected, and free pages not yet returned.
	Held uint64
	// Allocs counts the bytes ever allocated on the heap.
	Allocs uint64
}

// Trim reports whether a daemon that went from prev to u in one period is
// quiet and holds enough garbage to be worth a collection now. Since the
// last trim (or start), at least TrimAbove more must have been allocated:
// memory the runtime cannot return (part-used spans) never makes an idle
// daemon collect again and again.
func (p Policy) Trim(last, prev, u Usage) bool {
	return u.Live > 0 && u.Allocs-prev.Allocs <= p.QuietAlloc &&
		u.Held > u.Live+p.TrimAbove && u.Allocs-last.Allocs > p.TrimAbove
}

// Limit is the soft limit for u.
func (p Policy) Limit(u Usage) int64 {
	room := max(uint64(float64(u.Live)*p.Fraction), p.MinHeadroom)
	return int64(u.NonHeap + u.Live + room)
}

var samples = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/gc/heap/allocs:bytes",
}

// Read samples the runtime.
func Read() Usage {
	s := make([]metrics.Sample, len(samples))
	for i, name := range samples {
		s[i].Name = name
	}
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	heap := v(3) + v(4) + v(5)
	mapped := v(1) - v(2)
	u := Usage{Live: v(0), Held: heap, Allocs: v(6)}
	if mapped > heap {
		u.NonHeap = mapped - heap
	}
	return u
}

// Run sets the limit from read every period until ctx ends, and puts the
// previous limit back at the end. Before the first collection the live heap
// reads 0; the limit is left alone until it is known. After a quiet period
// (Policy.Trim) it calls trim: debug.FreeOSMemory in the daemon.
func Run(ctx context.Context, clk clock.Clock, period time.Duration, p Policy, read func() Usage, trim func()) {
	prevLimit := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prevLimit)
	prev := read()
	last := prev
	for {
		u := prev
		if u.Live > 0 {
			debug.SetMemoryLimit(p.Limit(u))
		}
		select {
		case <-ctx.Done():
			return
		case <-clk.After(period):
		}
		if u = read(); p.Trim(last, prev, u) {
			trim()
			u = read()
			last = u
		}
		prev = u
	}
}
