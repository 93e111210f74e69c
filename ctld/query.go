package ctld

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/joboutput"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/store"
)

// Filter narrows ListJobs.
type Filter struct {
	Users  map[string]bool
	States map[job.State]bool
	IDs    map[uint64]bool
	All    bool
}

func (f Filter) match(j *job.Job) bool {
	return (len(f.Users) == 0 || f.Users[j.User]) &&
		(len(f.States) == 0 || f.States[j.State]) &&
		(len(f.IDs) == 0 || f.IDs[j.ID] || (j.IsArrayTask() && f.IDs[j.ArrayJobID]))
}

// ListJobs returns the queue: unfinished jobs and those that ended within
// MinJobAge, or every job ever with f.All (read from the store).
func (c *Controller) ListJobs(f Filter) ([]api.JobInfo, error) {
	l, err := c.Listing(f)
	if err != nil || l.Null() {
		return nil, err
	}
	out := make([]api.JobInfo, l.Len())
	for i := range out {
		out[i] = l.Row(i)
	}
	return out, nil
}

// Listing is what ListJobs returns, taken at one instant but kept small:
// per job its record (records are never changed in place: a change
// publishes a new one) and what the last scheduling pass said of it. Row
// builds a user's row from that when the answer is written, so that
// listing 10,000 jobs does not hold 10,000 rows (3 MB, all garbage a moment
// later) at once.
type Listing struct {
	now  time.Time
	jobs []listed
}

type listed struct {
	j         *job.Job
	reason    string
	priority  float64
	simulated bool
}

// Null reports a listing of all jobs that found none, which the JSON
// answer has always written as null (an empty queue is []).
func (l *Listing) Null() bool { return l.jobs == nil }

// Len is the number of rows.
func (l *Listing) Len() int { return len(l.jobs) }

// Row is the i-th row, in job id order (in the store's order with f.All).
func (l *Listing) Row(i int) api.JobInfo { return l.jobs[i].info(l.now) }

// Listing takes the queue as ListJobs does, for its rows to be built one
// at a time.
func (c *Controller) Listing(f Filter) (*Listing, error) {
	l := &Listing{now: c.clk.Now()}
	if f.All {
		// Read the store first and only then take the lock: holding c.mu
		// inside a read transaction deadlocks against a transition that
		// holds c.mu while its commit waits for bbolt to remap.
		var stored []*job.Job
		if err := c.st.View(func(tx *store.Tx) error {
			return tx.ForEachJob(func(j *job.Job) error { stored = append(stored, j); return nil })
		}); err != nil {
			return nil, err
		}
		c.mu.RLock()
		defer c.mu.RUnlock()
		for _, j := range stored {
			if live, ok := c.jobs[j.ID]; ok {
				j = live
			}
			if f.match(j) {
				l.jobs = append(l.jobs, c.listedLocked(j))
			}
		}
		return l, nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	// Sort the pointers, then take the rest in order: sorting 10,000
	// finished rows moved ~200 bytes per swap and cost more than building them.
	sel := make([]*job.Job, 0, len(c.jobs))
	for _, j := range c.jobs {
		if j.State.Final() && l.now.Sub(j.EndTime) > c.cfg.MinJobAge {
			continue
		}
		if f.match(j) {
			sel = append(sel, j)
		}
	}
	slices.SortFunc(sel, func(a, b *job.Job) int { return cmp.Compare(a.ID, b.ID) })
	l.jobs = make([]listed, len(sel))
	for i, j := range sel {
		l.jobs[i] = c.listedLocked(j)
	}
	return l, nil
}

// infoLocked builds the row users see.
func (c *Controller) infoLocked(j *job.Job, now time.Time) api.JobInfo {
	return c.listedLocked(j).info(now)
}

// listedLocked is what a row needs beside the record. The reason of a
// waiting job comes from the last scheduling pass; others show the reason
// they ended with.
func (c *Controller) listedLocked(j *job.Job) listed {
	l := listed{j: j, reason: string(j.Reason)}
	if j.State == job.Pending {
		if p, ok := c.pidx.parked[j.ID]; ok {
			l.reason, l.priority = string(job.ReasonDependency), p.prio
		} else {
			if r, ok := c.reasons[j.ID]; ok {
				l.reason = string(r)
			}
			l.priority = c.priority[j.ID]
		}
	}
	if n, ok := c.nodes[j.Node]; ok {
		l.simulated = n.m.Simulated()
	}
	return l
}

func (l listed) info(now time.Time) api.JobInfo {
	j := l.j
	in := api.JobInfo{
		ID: j.ID, JobID: displayID(j), Name: j.Spec.Name, User: j.User, Account: j.Spec.Account,
		Partition: j.Spec.Partition, State: j.State, Reason: l.reason, Detail: j.Detail,
		Node: j.Node, ExitCode: j.ExitCode, TimeLimit: time.Duration(j.Spec.TimeLimit).Seconds(),
		SubmitTime: j.SubmitTime, StartTime: j.StartTime, RunTime: j.RunTime, EndTime: j.EndTime,
		Priority: l.priority, Simulated: l.simulated,
	}
	if j.IsArrayTask() {
		t := j.ArrayTaskID
		in.ArrayJobID, in.ArrayTaskID = j.ArrayJobID, &t
	}
	if in.Reason == "" {
		in.Reason = string(job.ReasonNone)
	}
	if !j.StartTime.IsZero() {
		end := now
		if !j.EndTime.IsZero() {
			end = j.EndTime
		}
		in.Elapsed = end.Sub(j.StartTime).Seconds()
	}
	return in
}

// JobDetail returns one job with its spec and history.
func (c *Controller) JobDetail(expr string) (api.JobDetail, error) {
	c.mu.RLock()
	ids, err := c.resolveLocked(expr)
	var j *job.Job
	if err == nil {
		j = c.jobs[ids[0]]
	}
	c.mu.RUnlock()
	var events []job.Event
	err = c.st.View(func(tx *store.Tx) error {
		if j == nil {
			id, perr := strconv.ParseUint(expr, 10, 64)
			if perr != nil {
				return fmt.Errorf("job %s: %w", expr, ErrNotFound)
			}
			var gerr error
			if j, gerr = tx.Job(id); gerr != nil {
				return fmt.Errorf("job %s: %w", expr, ErrNotFound)
			}
		}
		var err error
		events, err = tx.Events(j.ID)
		return err
	})
	if err != nil {
		return api.JobDetail{}, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	d := api.JobDetail{
		JobInfo: c.infoLocked(j, c.clk.Now()), Spec: *j.Spec, Cwd: j.Cwd,
		BootAttempts: j.BootAttempts, Restarts: j.Restarts, Events: events,
	}
	d.Output, d.Error = joboutput.Paths(j)
	d.PriorityTerms = c.priorityTermsLocked(j)
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].State == job.Allocated {
			d.Why = events[i].Detail
			break
		}
	}
	return d, nil
}

// WaitChange blocks until job id is no longer in state from, or the poll
// limit passes, then returns the job as it is.
func (c *Controller) WaitChange(ctx context.Context, id uint64, from job.State) (api.JobDetail, error) {
	c.mu.Lock()
	j, ok := c.jobs[id]
	var ch chan struct{}
	if ok && j.State == from {
		ch = make(chan struct{})
		c.waiters[id] = append(c.waiters[id], ch)
	}
	c.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
		case <-c.clk.After(c.cfg.WaitPoll):
		}
	}
	return c.JobDetail(strconv.FormatUint(id, 10))
}

// Nodes lists the machines.
func (c *Controller) Nodes() []api.NodeInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]api.NodeInfo, 0, len(c.names))
	for _, name := range c.names {
		rt := c.nodes[name]
		n := rt.Node
		parts := n.Partitions
		if len(parts) == 0 {
			parts = []string{c.cfg.Scheduler.DefaultPartition}
		}
		kind := n.Kind
		if kind == "" {
			kind = n.Arch
		}
		in := api.NodeInfo{
			Name: n.Name, State: n.DisplayState(), Arch: n.Arch, Kind: kind, Reason: c.nodeReasonLocked(rt), Job: n.Job,
			Cores: n.Cores, Memory: n.Memory, Features: n.Features, Partitions: parts,
			Protocol: n.BMC.Protocol, Since: n.Since, Simulated: rt.m.Simulated(),
		}
		if rt.power != power.Unknown {
			in.Power = string(rt.power)
		}
		if rt.power != power.Off {
			in.Watts = rt.watts // an off machine shows no watts
		}
		if n.State == node.IdleOn && !n.WarmUntil.IsZero() {
			in.WarmUntil = n.WarmUntil
			in.OffInSeconds = max(1, int64(n.WarmUntil.Sub(c.clk.Now()).Seconds()))
		}
		out = append(out, in)
	}
	return out
}

// LastPass is how long the last scheduling pass took.
func (c *Controller) LastPass() time.Duration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.lastPass
}
