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

// budgetsOf interns the budgets j (of account a) draws on and returns
// their index in p.budgetSets, or -1 when it draws on none.
func (p *pass) budgetsOf(j *job.Job, a *accountInfo) int32 {
	var user []string
	k := [2]int32{a.id, -1}
	if user = p.s.Energy.UserKeys[j.User]; len(user) > 0 {
		id, ok := p.userIDs[j.User]
		if !ok {
			if p.userIDs == nil {
				p.userIDs = map[string]int32{}
			}
			id = int32(len(p.userIDs))
			p.userIDs[j.User] = id
		}
		k[1] = id
	}
	acct := a.keys
	if len(acct)+len(user) == 0 {
		return -1
	}
	if i, ok := p.budgetIdx[k]; ok {
		return i
	}
	if p.budgetIdx == nil {
		p.budgetIdx = map[[2]int32]int32{}
	}
	i := int32(len(p.budgetSets))
	p.budgetSets = append(p.budgetSets, append(append([]string(nil), acct...), user...))
	p.budgetIdx[k] = i
	return i
}

// draw is what a signature's jobs expect to draw: the most of the kinds
// they may be placed on, with the longest boot; known is false when one
// of those kinds' draw is unknown.
type draw struct {
	watts float64
	boot  time.Duration
	known bool
}

func (p *pass) drawOf(sig int32, si *sigInfo) draw {
	if d, ok := p.sigDraw[sig]; ok {
		return d
	}
	d := draw{known: true}
	for _, ci := range si.classes {
		c := &p.classes[ci]
		w := p.s.Energy.Watts[c.kind]
		if w <= 0 {
			d.known = false
		}
		d.watts, d.boot = max(d.watts, w), max(d.boot, c.boot)
	}
	if p.sigDraw == nil {
		p.sigDraw = map[int32]draw{}
	}
	p.sigDraw[sig] = d
	return d
}

// left is what budget k has left after this pass's placements.
func (p *pass) left(k string) float64 { return p.s.Energy.Left[k] - p.spent[k] }

// energyFits decides whether e's job may start within its budgets, and
// sets p.need to what it would reserve. The reservation is taken on the
// kind that draws the most among those the job may use (the pass places it
// on one of them), with the longest boot. A job whose kinds' draw is
// unknown starts only when nothing else holds energy on its budgets, and
// reserves all they have left: one such job at a time, so at most one
// overruns.
func (p *pass) energyFits(e *entry, si *sigInfo) job.Reason {
	keys := p.budgetSets[e.bud]
	p.need = 0
	d := p.drawOf(e.sig, si)
	if !d.known {
		need := -1.0
		for _, k := range keys {
			if p.s.Energy.Reserved[k]+p.spent[k] > 0 || p.left(k) <= 0 {
				return job.ReasonAccountEnergyLimit
			}
			if need < 0 || p.left(k) < need {
				need = p.left(k)
			}
		}
		p.need = need
		return ""
	}
	need := d.watts * (e.limit + d.boot).Seconds()
	for _, k := range keys {
		if need > p.left(k) {
			return job.ReasonAccountEnergyLimit
		}
	}
	p.need = need
	return ""
}

// spend takes the reservation energyFits let through from e's budgets and
// notes it on the job's assignment.
func (p *pass) spend(e *entry) {
	if p.need == 0 {
		return
	}
	if p.spent == nil {
		p.spent = map[string]float64{}
	}
	for _, k := range p.budgetSets[e.bud] {
		p.spent[k] += p.need
	}
	// One machine per job: its one assignment carries the reservation.
	if n := len(p.plan.Assignments); n > 0 && p.plan.Assignments[n-1].JobID == e.id {
		p.plan.Assignments[n-1].ReserveJ = p.need
	}
	p.need = 0
}
