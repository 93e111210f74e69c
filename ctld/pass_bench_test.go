package ctld

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine/simnode"
	"github.com/bmc-sched/bmc/store"
)

// BenchmarkPassWithHeldJobs is one scheduling pass (snapshot, plan, apply)
// over 10 pending jobs beside 0 to 30,000 held ones: held jobs stay out of
// passes, so the cost must not grow with them.
func BenchmarkPassWithHeldJobs(b *testing.B) {
	for _, held := range []int{0, 3000, 30000} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			c := benchController(b)
			submitArray(b, c, held, true)
			submitArray(b, c, 10, false)
			ended, cancel := context.WithCancel(context.Background())
			cancel() // plan only: nothing is applied, the queue stays as it is
			b.ResetTimer()
			for range b.N {
				if _, err := c.schedulePass(ended); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchController(b *testing.B) *Controller {
	dir := b.TempDir()
	st, err := store.Open(filepath.Join(dir, "state.db"), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
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
	return c
}

func submitArray(b *testing.B, c *Controller, n int, hold bool) {
	if n == 0 {
		return
	}
	spec := simSpec(time.Hour, 0)
	spec.Hold = hold
	a, err := job.ParseArray(fmt.Sprintf("1-%d", n))
	if err != nil {
		b.Fatal(err)
	}
	spec.Array = &a
	if _, err := c.Submit(context.Background(), alice, api.SubmitRequest{Spec: spec, Cwd: c.cfg.StateDir}); err != nil {
		b.Fatal(err)
	}
}
