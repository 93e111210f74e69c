package ctld

import (
	"fmt"
	"sort"

	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/scheduler"
)

// Limits are the cluster's Slurm-style job limits per user; an
// association (bmcq user modify --max-submit-jobs) replaces them for one
// user, and an account may carry its own. Zero is no limit.
type Limits struct {
	// MaxSubmitJobs is how many jobs one user may have pending or
	// running at once (an array counts each task). Checked at submit.
	MaxSubmitJobs int
	// MaxJobs is how many of one user's jobs may run at once; the rest
	// wait with AssocMaxJobsLimit.
	MaxJobs int
	// MaxArrayTasks is the most tasks one array may have.
	MaxArrayTasks int
}

// DefaultLimits allow 10,000 queued jobs per user and arrays of as many.
func DefaultLimits() Limits { return Limits{MaxSubmitJobs: 10_000, MaxArrayTasks: 10_000} }

// jobCounts are one user's or one account's jobs not yet ended: queued
// (pending, held or active) and active (on a node).
type jobCounts struct{ queued, active int }

type countKey struct {
	account bool
	name    string
}

// countLocked adds (delta 1) or removes (-1) j's part in the counts.
func (c *Controller) countLocked(j *job.Job, delta int) {
	if j.State.Final() {
		return
	}
	for _, k := range []countKey{{false, j.User}, {true, j.Spec.Account}} {
		n := c.counts[k]
		n.queued += delta
		if j.State.Active() {
			n.active += delta
		}
		if n.queued == 0 {
			delete(c.counts, k)
			continue
		}
		c.counts[k] = n
	}
}

// userLimits are the limits that hold for user: its association's, else
// the cluster's.
func (c *Controller) userLimits(t *assoc.Tree, user string) assoc.JobLimits {
	l := assoc.JobLimits{MaxSubmitJobs: c.cfg.Limits.MaxSubmitJobs, MaxJobs: c.cfg.Limits.MaxJobs}
	if u, ok := t.User(user); ok {
		if u.Jobs.MaxSubmitJobs > 0 {
			l.MaxSubmitJobs = u.Jobs.MaxSubmitJobs
		}
		if u.Jobs.MaxJobs > 0 {
			l.MaxJobs = u.Jobs.MaxJobs
		}
	}
	return l
}

// checkLimits refuses a submit of tasks jobs that would take the user or
// the account past MaxSubmitJobs, or an array over MaxArrayTasks; the
// error names the limit and where it is set. The room it finds is held
// for this submit until the returned release (called with c.mu held),
// so submits sent side by side cannot all pass on the same count.
func (c *Controller) checkLimits(who Identity, spec *job.Spec, tasks int) (func(), error) {
	if m := c.cfg.Limits.MaxArrayTasks; m > 0 && spec.Array != nil && tasks > m {
		return nil, fmt.Errorf("%w: array: %d tasks; MaxArraySize allows %d per array (bmcctld --max-array-size)", ErrInvalid, tasks, m)
	}
	t := c.acct.tree.Load()
	uk, ak := countKey{false, who.User}, countKey{true, spec.Account}
	c.mu.Lock()
	defer c.mu.Unlock()
	user, acct := c.counts[uk].queued+c.held[uk], c.counts[ak].queued+c.held[ak]
	if m := c.userLimits(t, who.User).MaxSubmitJobs; m > 0 && user+tasks > m {
		return nil, fmt.Errorf("%w: MaxSubmitJobs: user %s has %d jobs pending or running, and %d more would pass the limit of %d (%s)",
			ErrForbidden, who.User, user, tasks, m, c.whereSet(t, who.User))
	}
	if a, ok := t.Account(spec.Account); ok && a.Jobs.MaxSubmitJobs > 0 && acct+tasks > a.Jobs.MaxSubmitJobs {
		return nil, fmt.Errorf("%w: MaxSubmitJobs: account %s has %d jobs pending or running, and %d more would pass its limit of %d (bmcq account modify %s --max-submit-jobs)",
			ErrForbidden, spec.Account, acct, tasks, a.Jobs.MaxSubmitJobs, spec.Account)
	}
	c.held[uk] += tasks
	c.held[ak] += tasks
	return func() {
		for _, k := range []countKey{uk, ak} {
			if c.held[k] -= tasks; c.held[k] <= 0 {
				delete(c.held, k)
			}
		}
	}, nil
}

func (c *Controller) whereSet(t *assoc.Tree, user string) string {
	if u, ok := t.User(user); ok && u.Jobs.MaxSubmitJobs > 0 {
		return "bmcq user modify " + user + " --max-submit-jobs"
	}
	return "bmcctld --max-submit-jobs"
}

// anyMaxJobs reports whether a MaxJobs limit is set anywhere.
func (c *Controller) anyMaxJobs(t *assoc.Tree) bool {
	if c.cfg.Limits.MaxJobs > 0 {
		return true
	}
	for _, a := range t.Accounts() {
		if a.Jobs.MaxJobs > 0 {
			return true
		}
	}
	for _, u := range t.Users() {
		if u.Jobs.MaxJobs > 0 {
			return true
		}
	}
	return false
}

// limitSnapshotLocked keeps waiting jobs past MaxJobs out of the pass:
// a user or account with r running and a limit of m may start m-r more,
// the oldest first, so that a pass never starts more than the limit.
func (c *Controller) limitSnapshotLocked(s *scheduler.Snapshot) {
	t := c.acct.tree.Load()
	if !c.anyMaxJobs(t) {
		return // the usual case: no sorting of the queue on every pass
	}
	room := map[countKey]int{}
	allowance := func(k countKey) (int, bool) {
		if r, ok := room[k]; ok {
			return r, true
		}
		m := 0
		if k.account {
			if a, ok := t.Account(k.name); ok {
				m = a.Jobs.MaxJobs
			}
		} else {
			m = c.userLimits(t, k.name).MaxJobs
		}
		if m == 0 {
			return 0, false
		}
		room[k] = max(m-c.counts[k].active, 0)
		return room[k], true
	}
	var waiting []*job.Job
	for _, j := range s.Jobs {
		if j.State == job.Pending {
			waiting = append(waiting, j)
		}
	}
	sort.Slice(waiting, func(a, b int) bool { return waiting[a].ID < waiting[b].ID })
	for _, j := range waiting {
		blocked := false
		keys := []countKey{{false, j.User}, {true, j.Spec.Account}}
		for _, k := range keys {
			if r, limited := allowance(k); limited && r == 0 {
				blocked = true
			}
		}
		if blocked {
			if s.Blocked == nil {
				s.Blocked = map[uint64]job.Reason{}
			}
			if _, ok := s.Blocked[j.ID]; !ok {
				s.Blocked[j.ID] = job.ReasonMaxJobs
			}
			continue
		}
		for _, k := range keys {
			if _, limited := allowance(k); limited {
				room[k]--
			}
		}
	}
}
