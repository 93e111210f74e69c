package ctld

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/job"
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
	st    *store.Store
	clk   clock.Clock
	log   *slog.Logger
	hooks Hooks

	mu       sync.RWMutex
	jobs     map[uint64]*job.Job // every job not yet evicted (see MinJobAge)
	done     map[uint64]job.State
	nodes    map[string]*nodeRT
	names    []string // node names, sorted
	byArray  map[uint64][]uint64
	reasons  map[uint64]job.Reason // from the last scheduling pass
	priority map[uint64]float64
	why      map[uint64]string
	running  map[uint64]*lifecycle
	waiters  map[uint64][]chan struct{}
	lastPass time.Duration

	freeing  atomic.Bool // a big submit's memory is being returned (see Submit)
	en       *energyState
	acct     *acctState // associations, quotas, fair share, carbon (assoc.go)
	wake     chan struct{}
	runCtx   context.Context
	runGroup sync.WaitGroup
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
}

type nodeRT struct {
	*node.Node
	held  bool // the start-up check is switching it off: not schedulable
	m     Machine
	power power.State
	watts *float64
}

type lifecycle struct {
	cancel context.CancelCauseFunc
}

// New loads the state file, merges the configured nodes with their stored
// records, and returns a controller ready to Run.
func New(cfg Config, st *store.Store, nodes []NodeMachine, clk clock.Clock, log *slog.Logger, hooks Hooks) (*Controller, error) {
	c := &Controller{
		cfg: cfg, st: st, clk: clk, log: log, hooks: hooks,
		jobs: map[uint64]*job.Job{}, done: map[uint64]job.State{},
		nodes: map[string]*nodeRT{}, byArray: map[uint64][]uint64{},
		reasons: map[uint64]job.Reason{}, priority: map[uint64]float64{}, why: map[uint64]string{},
		running: map[uint64]*lifecycle{}, waiters: map[uint64][]chan struct{}{},
		wake: make(chan struct{}, 1), en: newEnergyState(),
	}
	stored := map[string]*node.Node{}
	now := clk.Now()
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
			c.jobs[j.ID] = j
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
			n.State, n.Reason, n.Drain, n.Job, n.Since = old.State, old.Reason, old.Drain, old.Job, old.Since
			if n.Job != 0 {
				if j, ok := c.jobs[n.Job]; !ok || !j.State.Active() || j.Node != n.Name {
					n.State, n.Job = node.Idle, 0
				}
			}
		}
		if _, dup := c.nodes[n.Name]; dup {
			return nil, fmt.Errorf("node %s configured twice", n.Name)
		}
		c.nodes[n.Name] = &nodeRT{Node: n, m: nm.Machine, power: power.Unknown}
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

// NodeMachine pairs a node's configuration with the machine that drives it.
type NodeMachine struct {
	Config  node.Config
	Machine Machine
}

// Run reconciles unfinished jobs, then schedules until ctx ends. Running
// commands on nodes are left alone at shutdown: a restart picks them up.
func (c *Controller) Run(ctx context.Context) error {
	c.runCtx = ctx
	c.checkNodes(ctx)
	c.recover(ctx)
	for {
		start := time.Now()
		c.schedulePass(ctx)
		cost := time.Since(start)
		select {
		case <-ctx.Done():
			c.runGroup.Wait()
			return nil
		case <-c.wake:
			// Every submit wakes the loop; without a pause, a stream of
			// submits ran back-to-back passes over the whole queue and
			// passes took most of the CPU (bench/core). Pausing for
			// passGapFactor × the pass's own cost keeps passes under a
			// fifth of a core while a new job still waits at most a few
			// pass lengths. The pause is wall time because the cost is.
			if gap := passGapFactor*cost - time.Since(start.Add(cost)); gap > 0 {
				t := time.NewTimer(gap)
				select {
				case <-ctx.Done():
					t.Stop()
					c.runGroup.Wait()
					return nil
				case <-t.C:
				}
			}
		case <-c.clk.After(c.cfg.SchedInterval):
		}
	}
}

// passGapFactor is how many times its own duration a scheduling pass pauses
// before a wake-up may start the next one.
const passGapFactor = 4

// Wake asks for a scheduling pass soon.
func (c *Controller) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// checkNodes asks every BMC for its power state in the background: a wrong
// password or a dead BMC shows as DOWN at once, and an idle machine left on
// is switched off (it would burn energy nobody is billed for).
func (c *Controller) checkNodes(ctx context.Context) {
	type check struct {
		name string
		m    Machine
	}
	c.mu.RLock()
	var idle []check
	for _, name := range c.names {
		if n := c.nodes[name]; n.State != node.Allocated {
			idle = append(idle, check{name, n.m})
		}
	}
	c.mu.RUnlock()
	for _, n := range idle {
		c.runGroup.Add(1)
		go func() {
			defer c.runGroup.Done()
			st, err := n.m.PowerState(ctx)
			if err != nil {
				if ctx.Err() == nil {
					c.nodeDown(n.name, fmt.Sprintf("BMC: %v", err))
					c.powerError(n.name, err)
				}
				return
			}
			c.setPower(n.name, st)
			if st != power.On || !c.holdIdle(n.name) {
				return
			}
			defer c.releaseIdle(n.name)
			c.log.Info("idle node is powered on; switching it off", "node", n.name)
			if err := n.m.PowerOff(ctx); err != nil && ctx.Err() == nil {
				c.nodeDown(n.name, fmt.Sprintf("BMC power off: %v", err))
				c.powerError(n.name, err)
				return
			}
			c.setPower(n.name, power.Off)
		}()
	}
}

// holdIdle keeps the scheduler off an idle node while the start-up check
// switches it off; it fails if the node was given a job meanwhile.
func (c *Controller) holdIdle(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	rt := c.nodes[name]
	if rt.State != node.Idle {
		return false
	}
	rt.held = true
	return true
}

func (c *Controller) releaseIdle(name string) {
	c.mu.Lock()
	c.nodes[name].held = false
	c.mu.Unlock()
	c.Wake()
}

func (c *Controller) powerError(name string, err error) {
	if c.hooks.PowerError != nil {
		c.hooks.PowerError(name, err)
	}
}

func (c *Controller) setPower(name string, st power.State) {
	c.mu.Lock()
	if n, ok := c.nodes[name]; ok {
		n.power = st
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

// transition changes job id in one store transaction: mutate edits a copy;
// the event is appended; nodes touched are written in the same transaction.
// It must be called with c.mu held for writing.
func (c *Controller) transitionLocked(id uint64, ev job.Event, mutate func(j *job.Job) error, nodes ...*node.Node) (*job.Job, error) {
	old, ok := c.jobs[id]
	if !ok {
		return nil, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	j := *old
	if err := mutate(&j); err != nil {
		return nil, err
	}
	if ev.State == "" {
		ev.State = j.State
	}
	if ev.Time.IsZero() {
		ev.Time = c.clk.Now()
	}
	if ev.Node == "" {
		ev.Node = j.Node
	}
	var billed []billedEntry
	next, nextEv := c.successor(old, &j)
	err := c.st.Update(func(tx *store.Tx) error {
		if next != nil {
			if err := tx.NewJob(next, nextEv); err != nil {
				return err
			}
		}
		if err := tx.PutJob(&j); err != nil {
			return err
		}
		for _, n := range nodes {
			if err := tx.PutNode(n); err != nil {
				return err
			}
		}
		if err := tx.AddEvent(id, ev); err != nil {
			return err
		}
		var err error
		billed, err = c.billTx(tx, old, &j, ev)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("job %d → %s: %w", id, j.State, err)
	}
	c.publishLocked(old, &j)
	for _, n := range nodes {
		c.nodes[n.Name].Node = n
	}
	c.energyAfterLocked(old, &j, billed)
	if next != nil {
		c.publishLocked(nil, next)
		c.log.Info("recurring job: next run queued", "job", id, "next", next.ID, "begin", next.Spec.Begin)
	}
	c.log.Info("job state", "job", id, "from", old.State, "to", j.State, "reason", ev.Reason, "node", j.Node, "detail", ev.Detail)
	return &j, nil
}

// publishLocked swaps in a committed job record and wakes its waiters.
func (c *Controller) publishLocked(old, j *job.Job) {
	c.jobs[j.ID] = j
	if j.State.Final() {
		c.done[j.ID] = j.State
	} else {
		delete(c.done, j.ID)
	}
	if old != nil && old.State != j.State && c.hooks.JobState != nil {
		c.hooks.JobState(old.State, j.State)
	}
	for _, ch := range c.waiters[j.ID] {
		close(ch)
	}
	delete(c.waiters, j.ID)
}

func (c *Controller) transition(id uint64, ev job.Event, mutate func(j *job.Job) error, nodes ...*node.Node) (*job.Job, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transitionLocked(id, ev, mutate, nodes...)
}

// nodeCopy returns a copy of a node's record to change and pass to transition.
func (c *Controller) nodeCopyLocked(name string) *node.Node {
	n := *c.nodes[name].Node
	return &n
}

// nodeDown marks a node DOWN with a reason users can read in bmcq nodes.
func (c *Controller) nodeDown(name, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodeCopyLocked(name)
	if n.State == node.Down && n.Reason == reason {
		return
	}
	n.State, n.Reason, n.Job, n.Since = node.Down, reason, 0, c.clk.Now()
	if err := c.st.Update(func(tx *store.Tx) error { return tx.PutNode(n) }); err != nil {
		c.log.Error("store node state", "node", name, "err", err)
		return
	}
	c.nodes[name].Node = n
	c.log.Warn("node down", "node", name, "reason", reason)
}
