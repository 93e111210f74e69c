package memlimit

import (
	"context"
	"runtime/debug"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
)

func TestLimitLeavesRoomInProportionToTheLiveHeap(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name string
		u    Usage
		want int64
	}{
		{"empty daemon: the floor", Usage{Live: 2 * mib, NonHeap: 3 * mib}, 13 * mib},
		{"10,000 pending: still the floor", Usage{Live: 8 * mib, NonHeap: 4 * mib}, 20 * mib},
		{"30,000 pending: half the live heap", Usage{Live: 20 * mib, NonHeap: 5 * mib}, 35 * mib},
		{"100,000 pending: room grows with the heap", Usage{Live: 120 * mib, NonHeap: 10 * mib}, 190 * mib},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := DefaultPolicy().Limit(c.u); got != c.want {
				t.Errorf("Limit(%+v) = %d MiB, want %d MiB", c.u, got/mib, c.want/mib)
			}
		})
	}
}

func TestReadSeesTheHeap(t *testing.T) {
	keep := make([]byte, 8<<20)
	for i := range keep {
		keep[i] = byte(i)
	}
	u := Read()
	if u.Live == 0 && u.NonHeap == 0 {
		t.Fatalf("Read = %+v: the runtime metrics were not found", u)
	}
	_ = keep[len(keep)-1]
}

func TestRunFollowsTheHeapAndRestoresTheLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	clk := clock.NewFake(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	live := make(chan uint64, 1)
	live <- 0 // before the first collection: nothing is set
	read := func() Usage { v := <-live; live <- v; return Usage{Live: v} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Run(ctx, clk, time.Second, DefaultPolicy(), read) }()
	wait := func(n int) {
		t.Helper()
		bctx, bcancel := context.WithTimeout(ctx, 10*time.Second) // guards a hung test
		defer bcancel()
		if err := clk.BlockUntil(bctx, n); err != nil {
			t.Fatal(err)
		}
	}
	wait(1)
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit %d before the live heap is known, want it untouched (%d)", got, before)
	}
	<-live
	live <- 10 << 20
	clk.Advance(time.Second)
	wait(1)
	if got := debug.SetMemoryLimit(-1); got != 18<<20 {
		t.Errorf("limit %d MiB with 10 MiB live, want 18", got>>20)
	}
	<-live
	live <- 40 << 20
	clk.Advance(time.Second)
	wait(1)
	if got := debug.SetMemoryLimit(-1); got != 60<<20 {
		t.Errorf("limit %d MiB with 40 MiB live, want 60", got>>20)
	}
	cancel()
	<-done
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit after Run %d, want the previous %d", got, before)
	}
}
