package ctld

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/store"
)

// Controller holds the live view of jobs and nodes and drives every job
// through its life cycle. Job and node records are copy-on-write: a change
// builds a new record, commits it, then swaps the pointer, so a snapshot of
// pointers taken under the read lock stays consistent without copying.
type Controller struct {
	cfg   Config
	st    Store
	clk   clock.Clock
	log   *slog.Logger
	hooks Hooks

	mu       sync.RWMutex
	jobs     map[uint64]*job.Job // every job not yet evicted (see MinJobAge)
	pidx     passIndex           // the jobs a scheduling pass looks at (passindex.go)
	done     map[uint64]job.State
	nodes    map[string]*nodeRT
	names    []string // node names, sorted
	byArray  map[uint64][]uint64
	counts   map[countKey]jobCounts // unended jobs per user and account (limits.go)
	held     map[countKey]int       // room held by submits not yet published (limits.go)
	reasons  map[uint64]job.Reason  // from the last scheduling pass
	priority map[uint64]float64
	why      map[uint64]string
	running  map[uint64]*lifecycle
	stalls   map[uint64]*stall // jobs whose life cycle stopped short; the reconciler's
	waiters  map[uint64][]chan struct{}
	handoffs map[uint64]*handoff // warm sessions on their way to a job's boot (reuse.go)
	// secPending are security events not yet stored (security.go).
	secPending []securityRecord
	lastPass   time.Duration

	freeing  atomic.Bool // a big submit's memory is being returned (see Submit)
	en       *energyState
	idle     idleState  // the ledger's figures for the idle-off break-even
	acct     *acctState // associations, quotas, fair share, carbon (assoc.go)
	wake     chan struct{}
	probeQ   chan probe // BMC calls for the reconciler's workers
	runCtx   context.Context
	runGroup sync.WaitGroup
}

// Store is what the controller needs of the state file: closures over typed
// transactions, as *store.Store offers them. Tests wrap it to make commits fail.
type Store interface {
	Update(fn func(*store.Tx) error) error
	Batch(fn func(*store.Tx) error) error
	View(fn func(*store.Tx) error) error
}

// Hooks lets bmcctld observe the controller (metrics) without the controller
// knowing about Prometheus. Every field may be nil.
type Hooks struct {
	JobState   func(from, to job.State)
	SchedPass  func(d time.Duration, pending, assigned int)
	PowerError func(node string, err error)
	BootDone   func(node string, d time.Duration)
	// Billed reports joules written to the ledger for an account.
	Billed func(account string, joules float64)
	// QuotaWarning reports an energy budget that reached 80 or 100 % of
	// its limit (quota.go).
	QuotaWarning func(kind, name string, percent int)
	// Reconciled counts one action of the reconciler (reconcile.go).
	Reconciled func(action string)
	// SampleFlushFailed counts a failed write of a node's power samples
	// (retried at the next tick; energy.go).
	SampleFlushFailed func(node string)
}

type nodeRT struct {
	*node.Node
	m     machine.Machine
	power power.State
	watts *float64
	rec   nodeRec // what the reconciler knows and plans for it
	// onWhy says why the machine may be on with no job (an
	// accounting.Reason*, e.g. a power-on that failed); cleared once it
	// is seen off.
	onWhy string
	// offAt is when the machine was last seen to go off (setPower):
	// readings dated before it describe the draw before the off.
	offAt     time.Time
	bmc       node.BMC // as configured: names the meter (metering.go)
	sim       bool
	idleWatts float64       // the floor of self-reported bills (idleFloor)
	poke      chan struct{} // wakes the meter loop (setPower)
	warm      *warmRT       // IDLE-ON after a job: the session a reuse takes over (reuse.go)
}

type lifecycle struct {
	cancel   context.CancelCauseFunc
	tries    int  // failed runs since the job last changed state (backoff)
	stopping bool // cancelled with a stopCause; the first cause wins
}

// New loads the state file, merges the configured nodes with their stored
// records, and returns a controller ready to Run.
func New(cfg Config, st Store, nodes []machine.Node, clk clock.Clock, log *slog.Logger, hooks Hooks) (*Controller, error) {
	c := &Controller{
		cfg: cfg, st: st, clk: clk, log: log, hooks: hooks,
		jobs: map[uint64]*job.Job{}, done: map[uint64]job.State{},
		nodes: map[string]*nodeRT{}, byArray: map[uint64][]uint64{}, counts: map[countKey]jobCounts{}, held: map[countKey]int{},
		reasons: map[uint64]job.Reason{}, priority: map[uint64]float64{}, why: map[uint64]string{},
		running: map[uint64]*lifecycle{}, stalls: map[uint64]*stall{}, waiters: map[uint64][]chan struct{}{},
		handoffs: map[uint64]*handoff{},
		wake:     make(chan struct{}, 1), probeQ: make(chan probe, 4*probeWorkers),
		en: newEnergyState(), pidx: newPassIndex(),
	}
	stored := map[string]*node.Node{}
	now := clk.Now()
	arraySpec := map[uint64]*job.Spec{} // each array's tasks share one spec again, as at submit
	err := st.View(func(tx *store.Tx) error {
		if err := tx.ForEachNode(func(n *node.Node) error { stored[n.Name] = n; return nil }); err != nil {
			return err
		}
		return tx.ForEachJob(func(j *job.Job) error {
			if j.State.Final() {
				c.done[j.ID] = j.State
				if now.Sub(j.EndTime) > cfg.MinJobAge {
					return nil
				}
			}
			if j.IsArrayTask() {
				if sp, ok := arraySpec[j.ArrayJobID]; ok && reflect.DeepEqual(sp, j.Spec) {
					j.Spec = sp
				} else if !ok {
					arraySpec[j.ArrayJobID] = j.Spec
				}
			}
			c.jobs[j.ID] = j
			c.pidx.publish(nil, j)
			c.countLocked(j, 1)
			if j.IsArrayTask() {
				c.byArray[j.ArrayJobID] = append(c.byArray[j.ArrayJobID], j.ID)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	if err := c.loadEnergy(); err != nil {
		return nil, fmt.Errorf("load ledger: %w", err)
	}
	if c.acct, err = c.loadAccounting(); err != nil {
		return nil, fmt.Errorf("load associations: %w", err)
	}
	for _, nm := range nodes {
		n := &node.Node{Config: nm.Config, State: node.Idle, Since: now}
		if old, ok := stored[nm.Config.Name]; ok {
			n.State, n.Reason, n.Drain, n.Job, n.Since, n.Fault = old.State, old.Reason, old.Drain, old.Job, old.Since, old.Fault
			n.WarmUntil, n.WarmUser = old.WarmUntil, old.WarmUser
			if n.Job != 0 {
				if j, ok := c.jobs[n.Job]; !ok || !j.State.Active() || j.Node != n.Name {
					n.State, n.Job = node.Idle, 0
				}
			}
		}
		if _, dup := c.nodes[n.Name]; dup {
			return nil, fmt.Errorf("node %s configured twice", n.Name)
		}
		c.nodes[n.Name] = &nodeRT{Node: n, m: nm.Machine, power: power.Unknown, bmc: n.BMC, sim: nm.Machine.Simulated(), idleWatts: n.IdleWatts, poke: make(chan struct{}, 1)}
		c.names = append(c.names, n.Name)
	}
	sort.Strings(c.names)
	for name := range stored {
		if _, ok := c.nodes[name]; !ok {
			log.Warn("node in state file is no longer configured; forgetting it", "node", name)
		}
	}
	err = st.Update(func(tx *store.Tx) error {
		for _, n := range c.nodes {
			if err := tx.PutNode(n.Node); err != nil {
				return err
			}
		}
		return nil
	})
	return c, err
}

// Run recovers unfinished jobs, starts the reconciler, then schedules until
// ctx ends. Running commands on nodes are left alone at shutdown: a restart
// picks them up.
func (c *Controller) Run(ctx context.Context) error {
	c.runCtx = ctx
	if err := c.loadMeters(); err != nil {
		return fmt.Errorf("load the nodes' metered energy: %w", err)
	}
	c.mu.Lock()
	c.reconcileJobsLocked(job.CauseRecovery)
	c.mu.Unlock()
	c.startMetering(ctx)
	c.runGroup.Add(1)
	go func() {
		defer c.runGroup.Done()
		c.reconcile(ctx)
	}()
	runPasses(ctx, c.clk, c.wake, c.cfg.SchedInterval, c.cfg.SchedMinGap, func(ctx context.Context) time.Duration {
		own, err := c.schedulePass(ctx)
		if err != nil {
			// Nothing was applied; the next pass plans again from the state as it is.
			c.log.Warn("scheduling plan not applied; the next pass retries", "err", err)
		}
		return own
	})
	c.runGroup.Wait()
	return nil
}

// Wake asks for a scheduling pass soon.
func (c *Controller) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Controller) powerError(name string, err error) {
	if c.hooks.PowerError != nil {
		c.hooks.PowerError(name, err)
	}
}

func (c *Controller) setPower(name string, st power.State) {
	c.mu.Lock()
	if n, ok := c.nodes[name]; ok {
		n.setPower(st, c.clk.Now())
	}
	c.mu.Unlock()
}

// ErrNotFound and friends are what API callers see; the HTTP layer maps them.
var (
	ErrNotFound  = errors.New("not found")
	ErrForbidden = errors.New("permission denied")
	ErrConflict  = errors.New("not possible in this state")
	ErrInvalid   = errors.New("invalid request")
)
