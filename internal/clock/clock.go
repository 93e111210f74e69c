// Package clock owns the one seam between bmc's loops and wall time: a tiny
// Clock interface, the Real clock, and a Fake that tests move by hand so that no
// test sleeps. Pure code takes `now` as data; loops that wait take a Clock.
package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock tells the time and wakes a waiter after a span.
type Clock interface {
	Now() time.Time
	// After sends the clock's time on the returned channel once d has passed.
	// A d <= 0 fires at once.
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now.
func (Real) Now() time.Time { return time.Now() }

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Fake is a clock that only moves when a test calls Advance or Set. It is safe
// for concurrent use; a goroutine blocked in After can be awaited with
// BlockUntil so tests never guess how long a goroutine takes to park.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	parked  chan struct{} // closed and replaced whenever a waiter registers
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewFake returns a Fake reading start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, parked: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After returns a channel that fires when the fake time reaches Now()+d.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, waiter{at: f.now.Add(d), ch: ch})
	close(f.parked)
	f.parked = make(chan struct{})
	return ch
}

// Advance moves the clock forward by d and fires every waiter now due, in
// deadline order.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	t := f.now.Add(d)
	f.mu.Unlock()
	f.Set(t)
}

// Set moves the clock to t (never backwards) and fires every waiter now due.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.Before(f.now) {
		return
	}
	f.now = t
	sort.SliceStable(f.waiters, func(i, j int) bool { return f.waiters[i].at.Before(f.waiters[j].at) })
	keep := f.waiters[:0]
	for _, w := range f.waiters {
		if w.at.After(t) {
			keep = append(keep, w)
			continue
		}
		w.ch <- t // buffered, never blocks
	}
	f.waiters = keep
}

// Waiters is how many After channels have not fired yet. Abandoned channels
// (a waiter that gave up through its context) still count until they fire.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// BlockUntil returns once at least n After channels are pending, or when ctx ends.
func (f *Fake) BlockUntil(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		got, parked := len(f.waiters), f.parked
		f.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-parked:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
