package main

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/bmc-sched/bmc/ctld"
	"github.com/bmc-sched/bmc/internal/swf"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/scheduler"
	"github.com/bmc-sched/bmc/store"
)

// Result is one policy's row.
type Result struct {
	Policy   Policy
	Jobs     int // trace jobs replayed
	Tasks    int // machines' worth of them (one per processor)
	Machines int

	TotalJ, FloorJ, BootJ, IdleJ float64
	MeanWait                     time.Duration
	BSLD                         float64 // mean bounded slowdown, τ = 10 s
	Boots, Reuses, Passes        int
	Hold                         time.Duration // break-even T
	Span                         time.Duration // first submit to last end
}

// machine states, each drawing its own power.
type mstate int

const (
	off mstate = iota
	booting
	busy
	idleOn
)

type machine struct {
	n     *node.Node // what the scheduler sees; changed only between passes
	state mstate
	since time.Time
	watts float64
	task  *task
	gen   int // bumps on every change: a stale deadline is ignored
}

type task struct {
	j      *job.Job
	parent *jobStat
	run    time.Duration
}

type jobStat struct {
	submit  time.Time
	run     time.Duration
	left    int
	started time.Time // the last of its tasks to start running
	ended   time.Time
}

const (
	evRun  = iota // a boot or reuse is done: the task runs
	evEnd         // the task ends
	evWarm        // a warm machine's break-even passed
)

type event struct {
	at      time.Time
	kind, m int
	gen     int
}

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(a, b int) bool {
	return e[a].at.Before(e[b].at) || e[a].at.Equal(e[b].at) && e[a].kind < e[b].kind
}
func (e events) Swap(a, b int) { e[a], e[b] = e[b], e[a] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// sim replays one trace under one policy.
type sim struct {
	pol    Policy
	srv    Server
	cfg    scheduler.Config
	ms     []*machine
	nodes  []*node.Node
	byName map[string]int
	hold   time.Duration
	whole  bool // every pass sees the whole queue, not its head

	q       events
	pending []*job.Job
	tasks   map[uint64]*task
	active  map[uint64]*job.Job
	energy  [4]float64 // by state
	res     Result
}

var epoch = time.Date(1996, 9, 23, 0, 0, 0, 0, time.UTC)

// Replay runs trace on machines one-core machines of srv under pol. A
// trace job of p processors becomes p one-machine tasks of the same user
// and run time (bmc runs one job per machine and no multi-node jobs), so
// the machine-seconds and the floor are the trace's; the tasks of a job
// are not started together (no gang), and the job waits until its last
// task starts.
func Replay(ctx context.Context, trace []swf.Job, machines int, srv Server, pol Policy) (Result, error) {
	return replay(ctx, trace, machines, srv, pol, false)
}

// replay is Replay; whole shows the scheduler the whole queue every pass
// (the test that the head is enough).
func replay(ctx context.Context, trace []swf.Job, machines int, srv Server, pol Policy, whole bool) (Result, error) {
	cfg := scheduler.DefaultConfig()
	cfg.SizeWeight, cfg.FairShareWeight = 0, 0 // age alone, as in the traced machine's queue
	s := &sim{pol: pol, srv: srv, cfg: cfg, whole: whole, byName: map[string]int{}, tasks: map[uint64]*task{}, active: map[uint64]*job.Job{}}
	s.res = Result{Policy: pol, Machines: machines}
	for i := range machines {
		n := &node.Node{Config: node.Config{Name: fmt.Sprintf("m%04d", i), Arch: "x86_64", Kind: "x3550m3",
			Cores: 1, Memory: 1 << 30, ExpectedBoot: srv.BootTime, BootJoules: srv.BootJoules(), IdleWatts: srv.IdleWatts},
			State: node.Idle, Since: epoch}
		s.nodes = append(s.nodes, n)
		s.ms = append(s.ms, &machine{n: n, since: epoch})
		s.byName[n.Name] = i
	}
	hold, ok := ctld.BreakevenHold(s.nodes[0].Config, store.KindEnergy{})
	if !ok {
		return Result{}, fmt.Errorf("server model has no boot or idle figure")
	}
	s.hold, s.res.Hold = hold, hold

	var id uint64
	var stats []*jobStat
	next := 0
	now := epoch
	for step := 0; next < len(trace) || len(s.q) > 0; step++ {
		if step%4096 == 0 && ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		at := time.Time{}
		if next < len(trace) {
			at = epoch.Add(trace[next].Submit)
		}
		if len(s.q) > 0 && (at.IsZero() || s.q[0].at.Before(at)) {
			at = s.q[0].at
		}
		now = at
		for len(s.q) > 0 && !s.q[0].at.After(now) {
			s.handle(heap.Pop(&s.q).(event), now)
		}
		for next < len(trace) && !epoch.Add(trace[next].Submit).After(now) {
			tj := trace[next]
			next++
			if tj.Run <= 0 || tj.Procs <= 0 || tj.Procs > machines {
				continue
			}
			st := &jobStat{submit: epoch.Add(tj.Submit), run: tj.Run, left: tj.Procs}
			stats = append(stats, st)
			user := fmt.Sprintf("u%d", tj.User)
			if tj.User < 0 {
				user = fmt.Sprintf("job%d", tj.ID) // no users in the trace: none to share a machine with
			}
			for range tj.Procs {
				id++
				j := &job.Job{ID: id, ArrayTaskID: -1, User: user, State: job.Pending, SubmitTime: st.submit,
					Spec: job.Spec{Cores: 1, Nodes: 1, TimeLimit: job.Duration(max(tj.Request, tj.Run))}}
				s.tasks[id] = &task{j: j, parent: st, run: tj.Run}
				s.pending = append(s.pending, j)
				s.res.Tasks++
				s.res.FloorJ += srv.BusyWatts * tj.Run.Seconds()
			}
		}
		s.schedule(now)
		s.earlyOff(now)
	}
	for i := range s.ms {
		s.set(i, s.ms[i].state, 0, now) // close every machine's last interval
	}
	if len(s.pending) > 0 || len(s.active) > 0 {
		return Result{}, fmt.Errorf("%d tasks still waiting and %d running at the end", len(s.pending), len(s.active))
	}
	var wait time.Duration
	for _, st := range stats {
		wait += st.started.Sub(st.submit)
		s.res.BSLD += max(1, st.ended.Sub(st.submit).Seconds()/max(st.run.Seconds(), 10))
	}
	if n := len(stats); n > 0 {
		s.res.Jobs = n
		s.res.MeanWait = wait / time.Duration(n)
		s.res.BSLD /= float64(n)
		s.res.Span = now.Sub(stats[0].submit)
	}
	s.res.BootJ, s.res.IdleJ = s.energy[booting], s.energy[idleOn]
	s.res.TotalJ = s.energy[booting] + s.energy[busy] + s.energy[idleOn]
	return s.res, nil
}

// set closes machine i's current interval at now and starts another.
func (s *sim) set(i int, st mstate, watts float64, now time.Time) {
	m := s.ms[i]
	s.energy[m.state] += m.watts * now.Sub(m.since).Seconds()
	m.state, m.watts, m.since = st, watts, now
	m.gen++
}

func (s *sim) handle(e event, now time.Time) {
	m := s.ms[e.m]
	if e.gen != m.gen {
		return
	}
	switch e.kind {
	case evRun:
		s.set(e.m, busy, s.srv.BusyWatts, now)
		t := m.task
		t.j.State, t.j.RunTime = job.Running, now
		if now.After(t.parent.started) {
			t.parent.started = now
		}
		heap.Push(&s.q, event{at: now.Add(t.run), kind: evEnd, m: e.m, gen: m.gen})
	case evEnd:
		t := m.task
		m.task = nil
		delete(s.active, t.j.ID)
		delete(s.tasks, t.j.ID)
		t.parent.left--
		if t.parent.left == 0 {
			t.parent.ended = now
		}
		n := m.n
		n.Job, n.Since = 0, now
		if s.pol.IdleOff == ctld.IdleOffImmediate {
			n.State = node.Idle
			s.set(e.m, off, 0, now)
			return
		}
		n.State, n.WarmUser, n.WarmUntil = node.IdleOn, t.j.User, time.Time{}
		s.set(e.m, idleOn, s.srv.IdleWatts, now)
		if s.pol.IdleOff == ctld.IdleOffBreakeven {
			n.WarmUntil = now.Add(s.hold)
			heap.Push(&s.q, event{at: n.WarmUntil, kind: evWarm, m: e.m, gen: m.gen})
		}
	case evWarm:
		s.switchOff(e.m, now)
	}
}

func (s *sim) switchOff(i int, now time.Time) {
	n := s.ms[i].n
	n.State, n.WarmUser, n.WarmUntil, n.Since = node.Idle, "", time.Time{}, now
	s.set(i, off, 0, now)
}

// schedule runs a pass of the real scheduler when a task waits and a
// machine is free, and starts what it places. The pass sees the oldest
// waiting tasks, one more than there are free machines: every task has the
// same shape and priority is age alone, so the scheduler's order is submit
// order and it places the same tasks on the same machines as it would
// seeing the whole queue (which, on an overloaded trace, is thousands of
// tasks a pass).
func (s *sim) schedule(now time.Time) {
	free := 0
	for _, n := range s.nodes {
		if n.Available() {
			free++
		}
	}
	if len(s.pending) == 0 || free == 0 {
		return
	}
	head := s.pending[:min(len(s.pending), free+1)]
	if s.whole {
		head = s.pending
	}
	jobs := make([]*job.Job, 0, len(head)+len(s.active))
	jobs = append(jobs, head...)
	for _, j := range s.active {
		jobs = append(jobs, j)
	}
	p := scheduler.Schedule(&scheduler.Snapshot{Now: now, Jobs: jobs, Nodes: s.nodes}, s.cfg)
	s.res.Passes++
	if len(p.Assignments) == 0 {
		return
	}
	placed := map[uint64]bool{}
	for _, a := range p.Assignments {
		i := s.byName[a.Node]
		m, t := s.ms[i], s.tasks[a.JobID]
		placed[a.JobID] = true
		reuse := s.pol.Reuse && m.state == idleOn && m.n.WarmUser == t.j.User
		m.n.State, m.n.Job, m.n.Since, m.n.WarmUser, m.n.WarmUntil = node.Allocated, t.j.ID, now, "", time.Time{}
		t.j.State, t.j.Node, t.j.StartTime = job.Allocated, a.Node, now
		m.task = t
		s.active[t.j.ID] = t.j
		d := s.srv.BootTime
		if reuse {
			d = s.srv.ReuseTime
			s.res.Reuses++
			s.set(i, booting, s.srv.IdleWatts, now)
		} else {
			s.res.Boots++
			s.set(i, booting, s.srv.BootWatts, now)
		}
		heap.Push(&s.q, event{at: now.Add(d), kind: evRun, m: i, gen: m.gen})
	}
	// Drop the placed tasks from the head, keeping order: the rest of the
	// queue is not copied.
	w := len(head)
	for i := len(head) - 1; i >= 0; i-- {
		if !placed[head[i].ID] {
			w--
			s.pending[w] = head[i]
		}
	}
	s.pending = s.pending[w:]
}

// earlyOff switches off the warm machines ctld's reconciler would: those
// no waiting task fits, decided by the same function.
func (s *sim) earlyOff(now time.Time) {
	if s.pol.IdleOff != ctld.IdleOffBreakeven || s.pol.NoEarlyOff {
		return
	}
	var shapes []*job.Spec
	for i, m := range s.ms {
		if m.state != idleOn {
			continue
		}
		if shapes == nil {
			shapes = ctld.WaitingShapes(slices.Values(s.pending))
		}
		if due, _ := ctld.WarmOffDue(m.n, now, shapes, s.cfg); due {
			s.switchOff(i, now)
		}
	}
}
