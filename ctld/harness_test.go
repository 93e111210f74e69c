package ctld

// The test harness: a controller on simulated machines, a fake clock and
// a store whose commits can be made to fail.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/machine/simnode"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/store"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type harness struct {
	t       testing.TB
	dir     string
	clk     *clock.Fake
	st      *store.Store
	faults  *faultStore // wraps st for the controller: commits can be made to fail
	c       *Controller
	actMu   sync.Mutex
	actions map[string]int // reconciler actions counted through Hooks
	cancel  context.CancelFunc
	done    chan error
	changed chan struct{}
	nodes   int
	wrap    func(name string, m machine.Machine) machine.Machine
	// beforeStep, when set, runs before each step of the fake clock.
	beforeStep func()
	nodeCfg    func(*node.Config) // edits each node's nodes-file entry
	cfg        Config
	machines   []machine.Node
}

func newHarness(t testing.TB, nodes int, opts ...func(*harness)) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clk: clock.NewFake(t0), changed: make(chan struct{}, 1), nodes: nodes}
	h.cfg = DefaultConfig()
	h.cfg.StateDir = h.dir
	// The life-cycle tests check that a job's machine goes off at its end;
	// idleoff_test.go runs the other policies.
	h.cfg.Reconcile.IdleOff = IdleOffImmediate
	// Jobs write output as their owner (uid 1000 in these tests) even when
	// the tests run as root, so the directory must be theirs to write.
	os.Chmod(filepath.Dir(h.dir), 0o755)
	os.Chmod(h.dir, 0o777)
	for _, o := range opts {
		o(h)
	}
	st, err := store.Open(filepath.Join(h.dir, "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.st, h.faults = st, &faultStore{Store: st}
	t.Cleanup(func() { h.stop(); h.st.Close() })
	h.start()
	return h
}

func testLogger() *slog.Logger {
	if os.Getenv("BMC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (h *harness) start() {
	h.t.Helper()
	ms, err := simnode.Cluster(h.nodes, filepath.Join(h.dir, "sim"), h.clk, testLogger())
	if err != nil {
		h.t.Fatal(err)
	}
	if h.nodeCfg != nil {
		for i := range ms {
			h.nodeCfg(&ms[i].Config)
		}
	}
	if h.wrap != nil {
		for i := range ms {
			ms[i].Machine = h.wrap(ms[i].Config.Name, ms[i].Machine)
		}
	}
	if h.nodeCfg != nil {
		for i := range ms {
			h.nodeCfg(&ms[i].Config)
		}
	}
	h.machines = ms
	hooks := Hooks{JobState: func(from, to job.State) {
		select {
		case h.changed <- struct{}{}:
		default:
		}
	}, Reconciled: func(action string) {
		h.actMu.Lock()
		defer h.actMu.Unlock()
		if h.actions == nil {
			h.actions = map[string]int{}
		}
		h.actions[action]++
	}}
	c, err := New(h.cfg, h.faults, ms, h.clk, testLogger(), hooks)
	if err != nil {
		h.t.Fatal(err)
	}
	h.c = c
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- c.Run(ctx) }()
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
	h.cancel = nil
}

// restart stops the controller as a crash would leave things (nothing is
// cleaned up) and starts a new one on the same state file and machines.
func (h *harness) restart() {
	h.stop()
	h.start()
}

// until advances the fake clock in small steps, letting the controller's
// goroutines settle between steps, until cond holds.
func (h *harness) until(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.After(20 * time.Second) // guards a hung test; not part of any result
	for i := 0; ; i++ {
		if cond() {
			return
		}
		select {
		case <-h.changed:
			continue
		case <-deadline:
			h.t.Fatalf("gave up waiting for %s at fake time %s", what, h.clk.Now().Sub(t0))
		case <-time.After(2 * time.Millisecond):
		}
		if h.beforeStep != nil {
			h.beforeStep()
		}
		h.clk.Advance(250 * time.Millisecond)
	}
}

func (h *harness) job(id uint64) *job.Job {
	h.c.mu.RLock()
	defer h.c.mu.RUnlock()
	if j, ok := h.c.jobs[id]; ok {
		return j
	}
	var j *job.Job
	h.st.View(func(tx *store.Tx) error { j, _ = tx.Job(id); return nil })
	return j
}

func (h *harness) waitState(id uint64, want job.State) *job.Job {
	h.t.Helper()
	h.until(fmt.Sprintf("job %d to be %s", id, want), func() bool {
		j := h.job(id)
		if j.State.Final() && j.State != want {
			h.t.Fatalf("job %d ended %s (%s), want %s", id, j.State, j.Detail, want)
		}
		return j.State == want
	})
	return h.job(id)
}

func (h *harness) events(id uint64) []job.Event {
	var evs []job.Event
	h.st.View(func(tx *store.Tx) error { evs, _ = tx.Events(id); return nil })
	return evs
}

func (h *harness) node(name string) *node.Node {
	h.c.mu.RLock()
	defer h.c.mu.RUnlock()
	return h.c.nodes[name].Node
}

var alice = Identity{UID: 1000, GID: 1000, User: "alice"}
var bob = Identity{UID: 1001, GID: 1001, User: "bob"}
var root = Identity{UID: 0, User: "root", Admin: true}

func simSpec(runtime time.Duration, exit int) job.Spec {
	return job.Spec{
		Name: "t", Image: "busybox", Nodes: 1, TimeLimit: job.Duration(time.Hour),
		Command: job.Command{Shell: true, Argv: []string{"true"}},
		Sim:     &job.SimSpec{Runtime: job.Duration(runtime), Load: 0.5, ExitCode: exit},
	}
}

func (h *harness) submit(who Identity, s job.Spec) []uint64 {
	h.t.Helper()
	resp, err := h.c.Submit(context.Background(), who, api.SubmitRequest{Spec: s, Cwd: h.dir})
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.IDs
}

func states(evs []job.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, string(e.State))
	}
	return strings.Join(s, " ")
}
