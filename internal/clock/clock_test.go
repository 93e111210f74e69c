package clock

import (
	"context"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestFakeAfterFiresOnlyWhenDue(t *testing.T) {
	f := NewFake(t0)
	a := f.After(2 * time.Second)
	b := f.After(5 * time.Second)
	if got := f.Waiters(); got != 2 {
		t.Fatalf("Waiters = %d, want 2", got)
	}
	f.Advance(time.Second)
	select {
	case <-a:
		t.Fatal("fired at 1s, due at 2s")
	default:
	}
	f.Advance(time.Second)
	select {
	case got := <-a:
		if !got.Equal(t0.Add(2 * time.Second)) {
			t.Fatalf("fired with %v", got)
		}
	default:
		t.Fatal("did not fire when due")
	}
	select {
	case <-b:
		t.Fatal("b fired early")
	default:
	}
	f.Set(t0) // backwards is ignored
	if !f.Now().Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("clock went backwards: %v", f.Now())
	}
	f.Advance(time.Hour)
	<-b
	if f.Waiters() != 0 {
		t.Fatalf("waiters left: %d", f.Waiters())
	}
}

func TestFakeAfterNonPositiveFiresAtOnce(t *testing.T) {
	f := NewFake(t0)
	select {
	case <-f.After(0):
	default:
		t.Fatal("After(0) did not fire")
	}
	select {
	case <-f.After(-time.Second):
	default:
		t.Fatal("After(-1s) did not fire")
	}
}

func TestBlockUntil(t *testing.T) {
	f := NewFake(t0)
	done := make(chan struct{})
	go func() {
		<-f.After(time.Minute)
		close(done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Minute)
	<-done

	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := f.BlockUntil(ctx2, 5); err == nil {
		t.Fatal("BlockUntil returned nil with a cancelled context and no waiters")
	}
}

func TestRealIsAClock(t *testing.T) {
	var c Clock = Real{}
	if c.Now().IsZero() {
		t.Fatal("zero time")
	}
	<-c.After(0)
}
