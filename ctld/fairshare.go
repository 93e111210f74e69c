package ctld

import (
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/scheduler"
)

// defaultHalfLife is how long until the energy fair share counts a joule
// half, as Slurm's PriorityDecayHalfLife defaults to.
const defaultHalfLife = 7 * 24 * time.Hour

func (c *Controller) halfLife() time.Duration {
	if c.cfg.FairShareHalfLife > 0 {
		return c.cfg.FairShareHalfLife
	}
	return defaultHalfLife
}

// fairUsageLocked is each account's billed energy, decayed to now. Called
// with c.acct.mu held.
func (c *Controller) fairUsageLocked(now time.Time) map[string]float64 {
	out := make(map[string]float64, len(c.acct.fair))
	for a, d := range c.acct.fair {
		out[a] = d.ValueAt(now, c.halfLife())
	}
	return out
}

// Share reports the fair-share tree like sshare: each account's shares,
// decayed energy and factor, now.
func (c *Controller) Share() api.ShareList {
	now := c.clk.Now()
	c.acct.mu.Lock()
	usage := c.fairUsageLocked(now)
	c.acct.mu.Unlock()
	out := api.ShareList{HalfLife: c.halfLife().Seconds()}
	for _, s := range assoc.FairShare(c.acct.tree.Load(), usage) {
		out.Accounts = append(out.Accounts, api.Share{Account: s.Account, Parent: s.Parent, Depth: s.Depth, RawShares: s.RawShares,
			NormShares: s.NormShares, UsageJ: s.Usage, NormUsage: s.NormUsage, Factor: s.Factor})
	}
	return out
}

// priorityTermsLocked explains a pending job's priority as the last pass
// computed it (its time and fair-share factors), so the terms add up to the
// Priority shown; other jobs have none, as they have no priority. Called
// with c.mu held.
func (c *Controller) priorityTermsLocked(j *job.Job) []api.PriorityTerm {
	if j.State != job.Pending {
		return nil
	}
	largest := 0
	for _, rt := range c.nodes {
		largest = max(largest, rt.Cores)
	}
	c.acct.mu.Lock()
	factors, at := c.acct.factors, c.acct.passAt
	c.acct.mu.Unlock()
	if at.IsZero() {
		at = c.clk.Now()
	}
	var out []api.PriorityTerm
	for _, t := range scheduler.Terms(j.Spec, j.SubmitTime, at, largest, factors, c.cfg.Scheduler) {
		out = append(out, api.PriorityTerm(t))
	}
	return out
}
