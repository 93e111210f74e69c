package ctld

import (
	"context"
	"testing"
	"time"

	"fmt"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/job"
)

// loopRig runs runPasses on a fake clock with a scripted pass: each pass
// reports itself on ran and then returns the next own run time from costs.
type loopRig struct {
	t     *testing.T
	clk   *clock.Fake
	wake  chan struct{}
	ran   chan int
	costs chan time.Duration
	done  chan struct{}
}

const (
	loopInterval = 2 * time.Second
	loopMinGap   = 10 * time.Millisecond
)

func newLoopRig(t *testing.T) *loopRig {
	r := &loopRig{t: t, clk: clock.NewFake(t0), wake: make(chan struct{}, 1),
		ran: make(chan int, 100), costs: make(chan time.Duration, 100), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	go func() {
		defer close(r.done)
		runPasses(ctx, r.clk, r.wake, loopInterval, loopMinGap, func(context.Context) time.Duration {
			n++
			r.ran <- n
			return <-r.costs
		})
	}()
	t.Cleanup(func() { cancel(); r.costs <- 0; <-r.done })
	return r
}

// wakeUp is Controller.Wake on the rig's channel.
func (r *loopRig) wakeUp() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// pass waits for the next pass and gives it its own run time.
func (r *loopRig) pass(want int, own time.Duration) {
	r.t.Helper()
	select {
	case n := <-r.ran:
		if n != want {
			r.t.Fatalf("pass %d ran, want %d", n, want)
		}
	case <-time.After(10 * time.Second): // guards a hung test; not part of any result
		r.t.Fatalf("pass %d never ran (fake time %s)", want, r.clk.Now().Sub(t0))
	}
	r.costs <- own
}

// parked waits until the loop waits on n fake timers, then checks no pass ran.
func (r *loopRig) parked(n int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.clk.BlockUntil(ctx, n); err != nil {
		r.t.Fatalf("loop never waited on %d timers: %v", n, err)
	}
	select {
	case k := <-r.ran:
		r.t.Fatalf("pass %d ran while the loop should wait", k)
	default:
	}
}

func TestPassesCoalesceAndPauseForTheirOwnTime(t *testing.T) {
	r := newLoopRig(t)
	r.pass(1, time.Second)
	r.parked(1) // the interval timer
	for range 50 {
		r.wakeUp() // a burst of submits
	}
	r.parked(2) // + the pause: 4 × 1 s, capped at the 2 s interval
	r.clk.Advance(loopInterval - time.Millisecond)
	r.parked(1)
	r.clk.Advance(time.Millisecond)
	r.pass(2, 100*time.Millisecond)
	// The 50 wake-ups were one token: nothing is pending now.
	r.parked(1) // the new interval timer
	r.wakeUp()
	r.parked(2) // + the pause: 4 × 100 ms
	r.clk.Advance(399 * time.Millisecond)
	r.parked(2)
	r.clk.Advance(time.Millisecond)
	r.pass(3, 0)
	r.wakeUp()  // a pass that took no time still pauses the minimum gap
	r.parked(3) // pass 2's interval timer, pass 3's, the pause
	r.clk.Advance(loopMinGap)
	r.pass(4, 0)
}

func TestPassesRunEveryIntervalWithoutWakeUps(t *testing.T) {
	r := newLoopRig(t)
	r.pass(1, 0)
	r.parked(1)
	r.clk.Advance(loopInterval)
	r.pass(2, 0)
}

// stallLocker is a lock some other holder keeps for hold of fake time.
type stallLocker struct {
	clk  *clock.Fake
	hold time.Duration
}

func (l stallLocker) Lock()   { l.clk.Advance(l.hold) }
func (l stallLocker) Unlock() {}

func TestPassTimerLeavesOutLockWaits(t *testing.T) {
	clk := clock.NewFake(t0)
	pt := startPassTimer(clk)
	clk.Advance(30 * time.Millisecond) // snapshot work
	pt.lock(stallLocker{clk, 3 * time.Minute})
	clk.Advance(20 * time.Millisecond) // applying the plan
	if got := pt.own(); got != 50*time.Millisecond {
		t.Fatalf("own run time %s, want 50ms: the 3 min waited for the lock must not count", got)
	}
}

// TestBulkActionDoesNotStopScheduling is issue 10's case end to end: a
// bulk action holds the global lock for minutes while a pass waits for it;
// the pass after it must still come at once on a wake-up.
func TestBulkActionDoesNotStopScheduling(t *testing.T) {
	clk := clock.NewFake(t0)
	c := &Controller{clk: clk, wake: make(chan struct{}, 1)}
	// The pass's own work is instantaneous on the fake clock; the lock it
	// needs is held for 3 minutes by someone else.
	pass := func(context.Context) time.Duration {
		pt := startPassTimer(c.clk)
		pt.lock(stallLocker{clk, 3 * time.Minute})
		return pt.own()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runPasses(ctx, clk, c.wake, 10*time.Minute, 0, func(ctx context.Context) time.Duration {
			ran <- struct{}{}
			return pass(ctx)
		})
	}()
	defer func() { cancel(); <-done }()
	<-ran
	bctx, bcancel := context.WithTimeout(ctx, 10*time.Second)
	defer bcancel()
	if err := clk.BlockUntil(bctx, 1); err != nil {
		t.Fatal(err)
	}
	c.Wake()
	select {
	case <-ran: // no pause: the wait was not the pass's cost
	case <-time.After(10 * time.Second): // guards a hung test
		t.Fatalf("no pass after a wake-up: the pause counted the lock wait (waiters %d)", clk.Waiters())
	}
}

// TestPassesSkipHeldAndDependencyWaits checks the pass index: held jobs
// and jobs whose dependencies wait stay out of the passes (so a pass costs
// the same with 0 or 3,000 of them), yet dependencies on them are still
// judged right and a parked job comes back when its dependency ends.
func TestPassesSkipHeldAndDependencyWaits(t *testing.T) {
	h := newHarness(t, 1)
	blocker := h.submit(alice, simSpec(time.Minute, 0))[0]
	h.waitState(blocker, job.Running)
	hold := simSpec(time.Second, 0)
	hold.Hold = true
	var held []uint64
	for range 40 {
		held = append(held, h.submit(alice, hold)[0])
	}
	onBlocker := simSpec(time.Second, 0)
	onBlocker.DependsOn = []job.Dependency{{Type: job.AfterOK, JobID: blocker}}
	a := h.submit(alice, onBlocker)[0]
	onHeld := simSpec(time.Second, 0)
	onHeld.DependsOn = []job.Dependency{{Type: job.AfterAny, JobID: held[0]}}
	b := h.submit(alice, onHeld)[0]

	parked := func(id uint64) bool {
		h.c.mu.RLock()
		defer h.c.mu.RUnlock()
		_, ok := h.c.pidx.parked[id]
		return ok
	}
	h.until("both dependent jobs parked", func() bool { return parked(a) && parked(b) })
	h.c.mu.RLock()
	snap := h.c.snapshotLocked(h.clk.Now())
	infoA, infoB := h.c.infoLocked(h.c.jobs[a], h.clk.Now()), h.c.infoLocked(h.c.jobs[b], h.clk.Now())
	h.c.mu.RUnlock()
	if len(snap.Jobs) != 1 || snap.Jobs[0].ID != blocker {
		var ids []uint64
		for _, j := range snap.Jobs {
			ids = append(ids, j.ID)
		}
		t.Fatalf("a pass sees jobs %v, want only the running %d", ids, blocker)
	}
	for _, in := range []api.JobInfo{infoA, infoB} {
		if in.Reason != string(job.ReasonDependency) {
			t.Errorf("job %d shows reason %s, want %s", in.ID, in.Reason, job.ReasonDependency)
		}
	}

	// The blocker ends: a starts without any other wake-up.
	h.waitState(a, job.Completed)
	// Cancelling the held job meets b's afterany.
	if _, err := h.c.Act(alice, fmt.Sprint(held[0]), api.ActionCancel); err != nil {
		t.Fatal(err)
	}
	h.waitState(b, job.Completed)
}

// TestDependencyOnParkedJobIsNotNeverMet: c waits for b, which waits for a
// held job; b is parked, and c must still read as waiting, not as never
// satisfiable, and run once the chain clears.
func TestDependencyOnParkedJobIsNotNeverMet(t *testing.T) {
	h := newHarness(t, 2)
	hold := simSpec(time.Second, 0)
	hold.Hold = true
	hid := h.submit(alice, hold)[0]
	sb := simSpec(time.Second, 0)
	sb.DependsOn = []job.Dependency{{Type: job.AfterOK, JobID: hid}}
	b := h.submit(alice, sb)[0]
	sc := simSpec(time.Second, 0)
	sc.DependsOn = []job.Dependency{{Type: job.AfterOK, JobID: b}}
	c := h.submit(alice, sc)[0]
	h.until("both parked", func() bool {
		h.c.mu.RLock()
		defer h.c.mu.RUnlock()
		_, pb := h.c.pidx.parked[b]
		_, pc := h.c.pidx.parked[c]
		return pb && pc
	})
	if _, err := h.c.Act(alice, fmt.Sprint(hid), api.ActionRelease); err != nil {
		t.Fatal(err)
	}
	h.waitState(c, job.Completed)
}
