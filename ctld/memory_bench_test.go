package ctld

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine/simnode"
	"github.com/bmc-sched/bmc/store"
)

// BenchmarkPendingJobMemory is the controller's live heap per pending job:
// a 10,000-task array (the bench/core job) queued on a controller that is
// not running, heap measured after a collection before and after the
// submit. bench/README.md quotes it; the default limits rest on it.
func BenchmarkPendingJobMemory(b *testing.B) {
	const tasks = 10000
	for range b.N {
		dir := b.TempDir()
		st, err := store.Open(filepath.Join(dir, "state.db"), store.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		clk := clock.NewFake(t0)
		ms, err := simnode.Cluster(8, filepath.Join(dir, "sim"), clk, testLogger())
		if err != nil {
			b.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.StateDir = dir
		c, err := New(cfg, st, ms, clk, testLogger(), Hooks{})
		if err != nil {
			b.Fatal(err)
		}
		spec := simSpec(time.Hour, 0)
		spec.Name, spec.Image, spec.TimeLimit = "bench-array", "busybox:1.36", job.Duration(2*time.Hour)
		a, err := job.ParseArray("1-10000")
		if err != nil {
			b.Fatal(err)
		}
		spec.Array = &a
		before := liveHeap()
		if _, err := c.Submit(context.Background(), alice, api.SubmitRequest{Spec: spec, Cwd: dir}); err != nil {
			b.Fatal(err)
		}
		// A pass fills the reason and priority maps; with its context
		// ended it applies nothing, so every task stays pending.
		ended, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.schedulePass(ended); err != nil {
			b.Fatal(err)
		}
		after := liveHeap()
		b.ReportMetric(float64(after-before)/tasks, "B/pending-job")
		runtime.KeepAlive(c)
		st.Close()
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
