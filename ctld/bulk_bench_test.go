package ctld

import (
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
)

// BenchmarkBulkCancel cancels a 100,000-task array while another user
// lists their own jobs (what their bmcq asks) in a loop, and reports that
// user's latency: median and worst, and how long the cancel took.
//
//	go test -run '^$' -bench BulkCancel -benchtime 1x ./ctld/
func BenchmarkBulkCancel(b *testing.B) {
	const tasks = 100_000
	for range b.N {
		b.StopTimer()
		h := newHarness(b, 1, func(h *harness) { h.cfg.Limits = Limits{} })
		arr := h.heldArray(alice, tasks)
		h.submit(bob, simSpec(time.Second, 0))
		bobs := Filter{Users: map[string]bool{"bob": true}}
		var idle []time.Duration
		for range 50 {
			t := time.Now()
			h.c.ListJobs(bobs)
			idle = append(idle, time.Since(t))
		}
		slices.Sort(idle)
		b.ReportMetric(float64(idle[len(idle)/2].Microseconds())/1000, "idle-median-ms")
		b.StartTimer()
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			_, err := h.c.Act(alice, strconv.FormatUint(arr, 10), api.ActionCancel)
			done <- err
		}()
		var lat []time.Duration
	loop:
		for {
			select {
			case err := <-done:
				if err != nil {
					b.Fatal(err)
				}
				break loop
			default:
			}
			t := time.Now()
			if _, err := h.c.ListJobs(bobs); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t))
		}
		total := time.Since(start)
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		b.ReportMetric(total.Seconds(), "cancel-s")
		b.ReportMetric(float64(len(lat)), "listings")
		h.stop()
	}
}

// BenchmarkPendingMemory reports the controller's live heap per pending
// job, after queueing 10,000 tasks (the default MaxSubmitJobs of one user).
//
//	go test -run '^$' -bench PendingMemory -benchtime 1x ./ctld/
func BenchmarkPendingMemory(b *testing.B) {
	const tasks = 10_000
	for range b.N {
		h := newHarness(b, 1)
		before := liveHeap()
		h.heldArray(alice, tasks)
		after := liveHeap()
		b.ReportMetric(float64(after-before)/tasks, "B/pending-job")
		h.stop()
	}
}

func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
