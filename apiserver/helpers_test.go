package apiserver

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/ctld"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/machine/simnode"
	"github.com/bmc-sched/bmc/store"
)

// harness is a running controller on simulated machines, on a fake clock
// that nothing advances: the API tests only queue and read.
type harness struct {
	t   testing.TB
	dir string
	c   *ctld.Controller
}

func newHarness(t testing.TB, nodes int) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir()}
	clk := clock.NewFake(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	cfg := ctld.DefaultConfig()
	cfg.StateDir = h.dir
	st, err := store.Open(filepath.Join(h.dir, "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := simnode.Cluster(nodes, filepath.Join(h.dir, "sim"), clk, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	h.c, err = ctld.New(cfg, st, ms, clk, testLogger(), ctld.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		st.Close()
	})
	return h
}

// job is one job as the API shows it.
func (h *harness) job(id uint64) api.JobDetail {
	h.t.Helper()
	d, err := h.c.JobDetail(strconv.FormatUint(id, 10))
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

func testLogger() *slog.Logger {
	if os.Getenv("BMC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
