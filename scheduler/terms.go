package scheduler

import (
	"fmt"
	"time"

	"github.com/bmc-sched/bmc/job"
)

// Term is one part of a job's priority, for bmcq show: its name, value,
// and how it came about.
type Term struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Detail string  `json:"detail"`
}

// accountInfo is what a pass looks up once per account rather than once
// per job: 100,000 string-keyed lookups cost a pass ~15 ms.
type accountInfo struct {
	fairShare float64  // the weighted fair-share term
	keys      []string // the account's energy budgets
	id        int32    // numbers the accounts seen, for interning budgets
}

func (p *pass) accountOf(name string) *accountInfo {
	if a, ok := p.accounts[name]; ok {
		return a
	}
	if p.accounts == nil {
		p.accounts = map[string]*accountInfo{}
	}
	a := &accountInfo{id: int32(len(p.accounts))}
	if f, ok := p.s.FairShare[name]; ok {
		a.fairShare = p.cfg.FairShareWeight * f
	}
	if p.s.Energy != nil {
		a.keys = p.s.Energy.AccountKeys[name]
	}
	p.accounts[name] = a
	return a
}

// priority is Priority plus the fair-share term of the job's account.
func (p *pass) priority(j *job.Job, a *accountInfo) float64 {
	return Priority(j.Spec, j.SubmitTime, p.now, p.largest, p.cfg) + a.fairShare
}

// Terms explains a waiting job's priority term by term, as a pass computes
// it; the values add up to it. factors are the fair-share factors the pass
// had (Snapshot.FairShare).
func Terms(spec *job.Spec, submit, now time.Time, largestCores int, factors map[string]float64, cfg Config) []Term {
	var out []Term
	if cfg.AgeMax > 0 {
		wait := min(max(now.Sub(submit), 0), cfg.AgeMax)
		out = append(out, Term{"age", cfg.AgeWeight * float64(wait) / float64(cfg.AgeMax),
			fmt.Sprintf("%g × waited %s of %s", cfg.AgeWeight, fmtDur(wait), fmtDur(cfg.AgeMax))})
	}
	size := Term{Name: "size", Detail: "no cores asked"}
	if largestCores > 0 && spec.Cores > 0 {
		size.Value = cfg.SizeWeight * float64(spec.Cores) / float64(largestCores)
		size.Detail = fmt.Sprintf("%g × %d cores of the largest node's %d", cfg.SizeWeight, spec.Cores, largestCores)
	}
	out = append(out, size)
	fs := Term{Name: "fairshare", Detail: "no fair-share data for account " + orNone(spec.Account)}
	if f, ok := factors[spec.Account]; ok {
		fs.Value = cfg.FairShareWeight * f
		fs.Detail = fmt.Sprintf("%g × factor %.3f of account %s (energy used against its shares)", cfg.FairShareWeight, f, orNone(spec.Account))
	}
	out = append(out, fs)
	out = append(out, Term{"nice", cfg.NiceWeight * float64(-spec.Nice) / 10000, fmt.Sprintf("−%g × nice %d / 10000", cfg.NiceWeight, spec.Nice)})
	return out
}

func orNone(account string) string {
	if account == "" {
		return "(none)"
	}
	return account
}
