package ctld

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// heldArray submits a held array of n tasks as who and returns its id.
func (h *harness) heldArray(who Identity, n int) uint64 {
	h.t.Helper()
	s := simSpec(time.Second, 0)
	a, err := job.ParseArray("0-" + strconv.Itoa(n-1))
	if err != nil {
		h.t.Fatal(err)
	}
	s.Array, s.Hold = &a, true
	resp, err := h.c.Submit(context.Background(), who, api.SubmitRequest{Spec: s, Cwd: h.dir})
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.ArrayJobID
}

// A bulk cancel lets go of the lock between chunks: a reader that asks
// while the first chunk commits is answered before the second chunk
// starts, instead of after the whole array.
func TestBulkCancelLetsOthersIn(t *testing.T) {
	h := newHarness(t, 1)
	arr := h.heldArray(alice, 3*actChunk)
	bobs := h.submit(bob, simSpec(time.Second, 0))

	var commits atomic.Int32
	listed := make(chan struct{})
	hook := func() {
		switch commits.Add(1) {
		case 1:
			go func() {
				h.c.ListJobs(Filter{Users: map[string]bool{"bob": true}})
				close(listed)
			}()
		case 2:
			select {
			case <-listed:
			case <-time.After(10 * time.Second):
				t.Error("bob's listing waited for the whole bulk cancel")
			}
		}
	}
	h.faults.onUpdate.Store(&hook)
	done, err := h.c.Act(alice, strconv.FormatUint(arr, 10), api.ActionCancel)
	h.faults.onUpdate.Store(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 3*actChunk || !sort.SliceIsSorted(done, func(i, j int) bool { return done[i] < done[j] }) {
		t.Errorf("cancelled %d jobs (sorted: %v), want %d in order", len(done), slices.IsSorted(done), 3*actChunk)
	}
	if n := commits.Load(); n < 3 {
		t.Errorf("%d commits for %d jobs in chunks of %d", n, 3*actChunk, actChunk)
	}
	for _, id := range done {
		if st := h.job(id).State; st != job.Cancelled {
			t.Fatalf("job %d is %s", id, st)
		}
	}
	if st := h.job(bobs[0]).State; st == job.Cancelled {
		t.Error("bob's job was cancelled too")
	}
}

// Someone else's array is refused as a whole: no task changes.
func TestBulkActionRefusedAsAWhole(t *testing.T) {
	h := newHarness(t, 1)
	arr := h.heldArray(alice, 2*actChunk+5)
	if _, err := h.c.Act(bob, strconv.FormatUint(arr, 10), api.ActionCancel); err == nil {
		t.Fatal("bob cancelled alice's array")
	}
	h.c.mu.RLock()
	defer h.c.mu.RUnlock()
	for _, id := range h.c.byArray[arr] {
		if h.c.jobs[id].State != job.Held {
			t.Fatalf("task %d is %s after a refused cancel", id, h.c.jobs[id].State)
		}
	}
}
