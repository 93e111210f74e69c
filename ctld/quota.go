package ctld

import (
	"fmt"
	"slices"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power/sim"
	"github.com/bmc-sched/bmc/scheduler"
)

// Energy quotas hold in two steps. A pass lets a job start only when the
// energy it expects to use (its reservation: the machine kind's expected
// draw × its time limit and boot) fits what each of its budgets has left
// after what is billed in the period and what running jobs reserved
// (scheduler.EnergyBudgets); the pass spends each reservation before it
// considers the next job, so jobs of one budget that arrive together
// cannot all start. When the job's bill is written its reservation goes
// and the billed joules count instead. A job may still run past its
// reservation (it used more than its kind's 95th percentile); only that
// excess can go past a limit, and no other job of the budget starts then.

// billRec is what the quotas keep of one billed ledger entry.
type billRec struct {
	end           time.Time
	joules        float64
	account, user string
}

// periodUsage is one budget's energy billed in its current period.
type periodUsage struct {
	spec         string // the period as the limit says it
	since, reset time.Time
	used         float64
	warned       int // the highest warning given this period (80, 100)
}

// wattsHistory is how many run phases per machine kind the expected draw
// is taken from, and minHistory how many it needs before it replaces the
// nodes file's max_watts.
const (
	wattsHistory = 200
	minHistory   = 5
)

// warnAt are the percentages of a limit at which users are warned.
var warnAt = []int{80, 100}

// addBill takes a billed entry into the running figures: the bill log, the
// fair-share usage, the kind's power history and the cached periods it
// counts towards (t may be nil while loading, when none is cached).
func (a *acctState) addBill(b billedEntry, halfLife time.Duration) {
	r := billRec{end: b.End, joules: b.Joules, account: a.intern(b.Account), user: a.intern(b.User)}
	a.bills = append(a.bills, r)
	a.fair[b.Account] = a.fair[b.Account].Add(b.Joules, b.End, halfLife)
	if b.Phase == accounting.Run && b.Seconds >= 1 && b.Kind != "" {
		h := append(a.watts[b.Kind], b.Joules/b.Seconds)
		if len(h) > wattsHistory {
			h = h[len(h)-wattsHistory:]
		}
		a.watts[b.Kind] = h
	}
	for k, p := range a.periods {
		if counts(a.treeNow(), k, r) && !r.end.Before(p.since) {
			p.used += r.joules
		}
	}
}

func (a *acctState) treeNow() *assoc.Tree { return a.tree.Load() }

// intern keeps one copy of each account and user name the bill log holds:
// names decoded from the ledger are fresh strings, one per entry.
func (a *acctState) intern(s string) string {
	if x, ok := a.names[s]; ok {
		return x
	}
	if a.names == nil {
		a.names = map[string]string{}
	}
	a.names[s] = s
	return s
}

// counts reports whether bill r draws on budget k: a user's own, or an
// account's with the accounts below it.
func counts(t *assoc.Tree, k assoc.Key, r billRec) bool {
	if k.Kind == assoc.KindUser {
		return r.user == k.Name
	}
	return slices.Contains(t.Ancestors(r.account), k.Name)
}

// usage returns budget k's period at now and its billed energy, computed
// from the bill log when the period changed (or the tree did). Called with
// a.mu held.
func (a *acctState) usage(t *assoc.Tree, k assoc.Key, l assoc.Limit, now time.Time, loc *time.Location) *periodUsage {
	p := a.periods[k]
	if p != nil && p.spec == l.PeriodSpec() && (p.reset.IsZero() || now.Before(p.reset)) {
		return p
	}
	since, reset := assoc.Period(l, now, loc)
	p = &periodUsage{spec: l.PeriodSpec(), since: since, reset: reset}
	for _, r := range a.bills {
		if !r.end.Before(since) && counts(t, k, r) {
			p.used += r.joules
		}
	}
	a.periods[k] = p
	return p
}

// limited is every budget of the tree: its key and limit.
func limited(t *assoc.Tree) []limitedKey {
	var out []limitedKey
	for _, a := range t.Accounts() {
		if a.Limit.Set() {
			out = append(out, limitedKey{assoc.Key{Kind: assoc.KindAccount, Name: a.Name}, a.Limit})
		}
	}
	for _, u := range t.Users() {
		if u.Limit.Set() {
			out = append(out, limitedKey{assoc.Key{Kind: assoc.KindUser, Name: u.Name}, u.Limit})
		}
	}
	return out
}

type limitedKey struct {
	key   assoc.Key
	limit assoc.Limit
}

// siteZone is where periods and statement months are read: the tariff
// file's zone, UTC without one.
func (c *Controller) siteZone() *time.Location {
	if ts := c.cfg.Energy.Tariffs; ts != nil {
		return ts.Location()
	}
	return time.UTC
}

// budgetSnapshotLocked gives a pass the energy budgets (nil when no limit
// is set) and the fair-share factors. Called with c.mu held.
func (c *Controller) budgetSnapshotLocked(s *scheduler.Snapshot) {
	t := c.acct.tree.Load()
	lks := limited(t)
	a := c.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	a.factors, a.passAt = assoc.Factors(assoc.FairShare(t, c.fairUsageLocked(s.Now))), s.Now
	s.FairShare = a.factors
	for id := range a.reserve {
		if j, ok := c.jobs[id]; !ok || !j.State.Active() {
			delete(a.reserve, id) // settled by its bill, or the plan was not applied
		}
	}
	if len(lks) == 0 {
		return
	}
	b := &scheduler.EnergyBudgets{Left: map[string]float64{}, Reserved: map[string]float64{},
		AccountKeys: map[string][]string{}, UserKeys: map[string][]string{}, Watts: c.kindWattsLocked()}
	for _, acct := range t.Accounts() {
		for _, k := range t.KeysFor("", acct.Name) {
			b.AccountKeys[acct.Name] = append(b.AccountKeys[acct.Name], k.String())
		}
	}
	for _, lk := range lks {
		if lk.key.Kind == assoc.KindUser {
			b.UserKeys[lk.key.Name] = []string{lk.key.String()}
		}
		p := a.usage(t, lk.key, lk.limit, s.Now, c.siteZone())
		b.Left[lk.key.String()] = lk.limit.EnergyKWh*accounting.JoulesPerKWh - p.used
	}
	for _, j := range s.Jobs {
		if !j.State.Active() {
			continue
		}
		r, ok := a.reserve[j.ID]
		if !ok {
			// Running since before a restart: reserve what it would get now.
			if n, nok := c.nodes[j.Node]; nok {
				r, _ = scheduler.Reservation(b, j.Spec, n.Node, c.cfg.Scheduler)
			}
			a.reserve[j.ID] = r
		}
		for _, k := range slices.Concat(b.AccountKeys[j.Spec.Account], b.UserKeys[j.User]) {
			b.Reserved[k] += r
			b.Left[k] -= r
		}
	}
	s.Energy = b
}

// kindWattsLocked is each machine kind's expected draw: the 95th
// percentile of its billed run phases' mean power, or, with too short a
// history, the largest max_watts of its nodes (for simulated nodes without
// one, the model's peak). Called with c.mu and a.mu held.
func (c *Controller) kindWattsLocked() map[string]float64 {
	out := map[string]float64{}
	for _, name := range c.names {
		n := c.nodes[name].Node
		kind := n.Kind
		if kind == "" {
			kind = n.Arch
		}
		w := n.MaxWatts
		if w == 0 && n.BMC.Protocol == node.ProtoSim {
			w = sim.ModelFor(n.Config).PeakWatts
		}
		out[kind] = max(out[kind], w)
	}
	for kind, h := range c.acct.watts {
		if len(h) >= minHistory {
			out[kind] = p95(h)
		}
	}
	return out
}

func p95(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[min(len(s)-1, int(0.95*float64(len(s))))]
}

// reserveLocked notes the reservations of the jobs a pass placed; the
// next pass counts them against their budgets. Called with c.mu held.
func (c *Controller) reserveLocked(as []scheduler.Assignment) {
	c.acct.mu.Lock()
	defer c.acct.mu.Unlock()
	for _, x := range as {
		if x.ReserveJ > 0 {
			c.acct.reserve[x.JobID] = x.ReserveJ
		}
	}
}

// crossing is a budget that a bill takes past a warning level.
type crossing struct {
	key     assoc.Key
	percent int
	limitJ  float64
	reset   time.Time
}

// crossingsLocked finds the warning levels billed adds past, without
// changing anything. Called with a.mu held.
func (c *Controller) crossingsLocked(billed []billedEntry) []crossing {
	t := c.acct.tree.Load()
	var out []crossing
	for _, lk := range limited(t) {
		if len(billed) == 0 {
			break
		}
		p := c.acct.usage(t, lk.key, lk.limit, billed[0].End, c.siteZone())
		add := 0.0
		for _, b := range billed {
			if counts(t, lk.key, billRec{end: b.End, account: b.Account, user: b.User}) && !b.End.Before(p.since) {
				add += b.Joules
			}
		}
		limitJ := lk.limit.EnergyKWh * accounting.JoulesPerKWh
		for _, pct := range warnAt {
			at := limitJ * float64(pct) / 100
			if p.used < at && p.used+add >= at && pct > p.warned {
				out = append(out, crossing{lk.key, pct, limitJ, p.reset})
			}
		}
	}
	return out
}

func (x crossing) String() string {
	s := fmt.Sprintf("%s %s has used %d%% of its energy limit (%s)", x.key.Kind, x.key.Name, x.percent, kwh(x.limitJ))
	if !x.reset.IsZero() {
		s += " for the period to " + x.reset.Format("2006-01-02 15:04 MST")
	}
	return s
}

// inZone shows t in the site's zone; the zero time stays zero.
func inZone(t time.Time, loc *time.Location) time.Time {
	if t.IsZero() {
		return t
	}
	return t.In(loc)
}

func kwh(j float64) string { return fmt.Sprintf("%.4g kWh", j/accounting.JoulesPerKWh) }

// quotaEventsLocked is the job events a bill adds when it takes a budget
// past 80 or 100 % of its limit, written with the bill in the transition
// ev records. Called with c.mu held.
func (c *Controller) quotaEventsLocked(billed []billedEntry, ev job.Event) []job.Event {
	c.acct.mu.Lock()
	defer c.acct.mu.Unlock()
	var out []job.Event
	for _, x := range c.crossingsLocked(billed) {
		out = append(out, job.Event{Time: ev.Time, State: ev.State, Node: ev.Node, Detail: x.String()})
	}
	return out
}

// settleLocked follows a committed bill: its joules count in the quotas'
// periods and the fair share, the job's reservation goes, and budgets it
// took past a warning level are reported (log and metric). Called with
// c.mu held.
func (c *Controller) settleLocked(j *job.Job, billed []billedEntry) {
	a := c.acct
	a.mu.Lock()
	xs := c.crossingsLocked(billed)
	for _, b := range billed {
		a.addBill(b, c.halfLife())
	}
	if !j.State.Active() {
		delete(a.reserve, j.ID)
	}
	for _, x := range xs {
		if p := a.periods[x.key]; p != nil {
			p.warned = max(p.warned, x.percent)
		}
	}
	a.mu.Unlock()
	for _, x := range xs {
		c.log.Warn("energy quota", "budget", x.key.String(), "percent", x.percent, "job", j.ID, "detail", x.String())
		if c.hooks.QuotaWarning != nil {
			c.hooks.QuotaWarning(x.key.Kind, x.key.Name, x.percent)
		}
	}
}

// quotaWarnings are the lines a submit shows its user about the budgets
// the job draws on that are at 80 % or more.
func (c *Controller) quotaWarnings(user, account string) []string {
	var out []string
	for _, q := range c.Quota().Quotas {
		if q.Warning == "" {
			continue
		}
		if q.Kind == assoc.KindUser && q.Name == user || q.Kind == assoc.KindAccount && slices.Contains(c.acct.tree.Load().Ancestors(account), q.Name) {
			out = append(out, q.Warning)
		}
	}
	return out
}

// Quota reports every energy limit in force: its limit, what is billed in
// the current period, what running jobs reserve, what is left, and when
// it resets.
func (c *Controller) Quota() api.QuotaList {
	t := c.acct.tree.Load()
	now := c.clk.Now()
	reserved := map[string]float64{}
	c.mu.RLock()
	c.acct.mu.Lock()
	for id, r := range c.acct.reserve {
		if j, ok := c.jobs[id]; ok && j.State.Active() {
			for _, k := range t.KeysFor(j.User, j.Spec.Account) {
				reserved[k.String()] += r
			}
		}
	}
	var out api.QuotaList
	for _, lk := range limited(t) {
		p := c.acct.usage(t, lk.key, lk.limit, now, c.siteZone())
		q := api.Quota{Kind: lk.key.Kind, Name: lk.key.Name, LimitJ: lk.limit.EnergyKWh * accounting.JoulesPerKWh,
			UsedJ: p.used, ReservedJ: reserved[lk.key.String()], Period: p.spec, Since: inZone(p.since, c.siteZone()), Reset: inZone(p.reset, c.siteZone())}
		q.LeftJ = q.LimitJ - q.UsedJ - q.ReservedJ
		for _, pct := range warnAt {
			if q.UsedJ >= q.LimitJ*float64(pct)/100 {
				q.Warning = crossing{lk.key, pct, q.LimitJ, p.reset}.String()
			}
		}
		out.Quotas = append(out.Quotas, q)
	}
	c.acct.mu.Unlock()
	c.mu.RUnlock()
	return out
}
