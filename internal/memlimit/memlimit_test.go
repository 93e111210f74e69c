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
	go func() {
		defer close(done)
		Run(ctx, clk, time.Second, DefaultPolicy(), read, func() { t.Error("trimmed a daemon with no garbage") })
	}()
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

func TestTrimOnlyWhenQuietWithGarbage(t *testing.T) {
	const mib = 1 << 20
	p := DefaultPolicy()
	last := Usage{Live: 6 * mib, Held: 6 * mib, Allocs: 100 * mib} // the previous trim
	for _, c := range []struct {
		name    string
		prev, u Usage
		want    bool
	}{
		{"busy: a submit loop allocates megabytes a second",
			Usage{Live: 6 * mib, Held: 10 * mib, Allocs: 110 * mib}, Usage{Live: 6 * mib, Held: 14 * mib, Allocs: 120 * mib}, false},
		{"quiet after a listing's garbage",
			Usage{Live: 6 * mib, Held: 10 * mib, Allocs: 103 * mib}, Usage{Live: 6 * mib, Held: 10 * mib, Allocs: 103*mib + 4096}, true},
		{"quiet with little garbage",
			Usage{Live: 6 * mib, Held: 7 * mib, Allocs: 103 * mib}, Usage{Live: 6 * mib, Held: 7 * mib, Allocs: 103 * mib}, false},
		{"quiet, but memory the runtime cannot return: nothing allocated since the last trim",
			Usage{Live: 6 * mib, Held: 10 * mib, Allocs: 101 * mib}, Usage{Live: 6 * mib, Held: 10 * mib, Allocs: 101 * mib}, false},
		{"before the first collection",
			Usage{Held: 10 * mib, Allocs: 103 * mib}, Usage{Held: 10 * mib, Allocs: 103 * mib}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := p.Trim(last, c.prev, c.u); got != c.want {
				t.Errorf("Trim(%+v -> %+v) = %v, want %v", c.prev, c.u, got, c.want)
			}
		})
	}
}

func TestRunTrimsOnceWhenTheDaemonFallsQuiet(t *testing.T) {
	const mib = 1 << 20
	clk := clock.NewFake(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	usage := make(chan Usage, 1)
	usage <- Usage{Live: 6 * mib, Held: 14 * mib, Allocs: 100 * mib}
	read := func() Usage { u := <-usage; usage <- u; return u }
	set := func(u Usage) { <-usage; usage <- u }
	trims := make(chan struct{}, 10)
	trim := func() {
		trims <- struct{}{}
		set(Usage{Live: 6 * mib, Held: 6 * mib, Allocs: 120 * mib})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); Run(ctx, clk, time.Second, DefaultPolicy(), read, trim) }()
	tick := func() {
		t.Helper()
		bctx, bcancel := context.WithTimeout(ctx, 10*time.Second) // guards a hung test
		defer bcancel()
		if err := clk.BlockUntil(bctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	tick()
	set(Usage{Live: 6 * mib, Held: 14 * mib, Allocs: 110 * mib}) // busy
	clk.Advance(time.Second)
	tick()
	if len(trims) != 0 {
		t.Fatal("trimmed a busy daemon")
	}
	set(Usage{Live: 6 * mib, Held: 14 * mib, Allocs: 110*mib + 4096}) // quiet
	clk.Advance(time.Second)
	tick()
	if len(trims) != 1 {
		t.Fatalf("%d trims after a quiet second, want 1", len(trims))
	}
	clk.Advance(time.Second) // still quiet, garbage gone
	tick()
	clk.Advance(time.Second)
	tick()
	if len(trims) != 1 {
		t.Errorf("%d trims while idle, want still 1", len(trims))
	}
	cancel()
	<-done
}
