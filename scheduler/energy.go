package scheduler

import (
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// EnergyBudgets are the energy quotas a pass holds jobs to. Budgets are
// named by strings the controller chooses ("account:physics", "user:ann").
// A job draws on the budgets of its account (AccountKeys) and its user
// (UserKeys); it may start only when its expected energy, the reservation,
// fits what each of them has left, and the pass spends it so that the next
// job sees less. The controller settles a reservation against the bill
// when the job ends.
type EnergyBudgets struct {
	// Left is what each budget may still use in its period: its limit less
	// the energy billed and reserved by running jobs, in joules.
	Left map[string]float64
	// Reserved is what running jobs hold on each budget, in joules.
	Reserved map[string]float64
	// AccountKeys and UserKeys name the budgets a job of that account or
	// that user draws on.
	AccountKeys map[string][]string
	UserKeys    map[string][]string
	// Watts is the expected draw of each machine kind while it holds a job
	// (the kind's 95th percentile of billed power, or its nodes' max_watts);
	// a kind missing or at 0 is unknown.
	Watts map[string]float64
}

// keys are the budgets j draws on.
func (b *EnergyBudgets) keys(j *job.Job) ([]string, []string) {
	return b.AccountKeys[j.Spec.Account], b.UserKeys[j.User]
}

// Reservation is the energy a job expects to use on a machine of that
// kind: the kind's expected watts times its time limit plus the machine's
// expected boot. known is false when the kind's draw is unknown.
func Reservation(b *EnergyBudgets, spec *job.Spec, n *node.Node, cfg Config) (joules float64, known bool) {
	w := b.Watts[kindOf(n)]
	if w <= 0 {
		return 0, false
	}
	return w * (timeLimit(spec, cfg) + n.ExpectedBoot).Seconds(), true
}

// left is what budget k has left after this pass's placements.
func (p *pass) left(k string) float64 { return p.s.Energy.Left[k] - p.spent[k] }

// energyFits decides whether j may start within its budgets, and sets
// p.need to what it would reserve. The reservation is taken on the kind
// that draws the most among those j may use (the pass places it on one of
// them), with the longest boot. A job whose kinds' draw is unknown starts
// only when nothing else holds energy on its budgets, and reserves all
// they have left: one such job at a time, so at most one overruns.
func (p *pass) energyFits(j *job.Job, si *sigInfo) job.Reason {
	b := p.s.Energy
	acct, user := b.keys(j)
	p.need = 0
	if len(acct)+len(user) == 0 {
		return ""
	}
	var watts float64
	var boot time.Duration
	known := true
	for _, ci := range si.classes {
		c := &p.classes[ci]
		w := b.Watts[c.kind]
		if w <= 0 {
			known = false
		}
		watts, boot = max(watts, w), max(boot, c.boot)
	}
	if !known {
		need := -1.0
		for _, ks := range [][]string{acct, user} {
			for _, k := range ks {
				if b.Reserved[k]+p.spent[k] > 0 || p.left(k) <= 0 {
					return job.ReasonAccountEnergyLimit
				}
				if need < 0 || p.left(k) < need {
					need = p.left(k)
				}
			}
		}
		p.need = need
		return ""
	}
	need := watts * (timeLimit(&j.Spec, p.cfg) + boot).Seconds()
	for _, ks := range [][]string{acct, user} {
		for _, k := range ks {
			if need > p.left(k) {
				return job.ReasonAccountEnergyLimit
			}
		}
	}
	p.need = need
	return ""
}

// spend takes the reservation energyFits let through from the job's
// budgets and notes it on the job's assignment.
func (p *pass) spend(id uint64, j *job.Job) {
	if p.need == 0 {
		return
	}
	if p.spent == nil {
		p.spent = map[string]float64{}
	}
	acct, user := p.s.Energy.keys(j)
	for _, ks := range [][]string{acct, user} {
		for _, k := range ks {
			p.spent[k] += p.need
		}
	}
	// One machine per job: its one assignment carries the reservation.
	if n := len(p.plan.Assignments); n > 0 && p.plan.Assignments[n-1].JobID == id {
		p.plan.Assignments[n-1].ReserveJ = p.need
	}
	p.need = 0
}
