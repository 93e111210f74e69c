package accounting

import (
	"cmp"
	"slices"
	"time"
)

// StatementJob is one job's part of a period: the joules of its ledger
// entries that fall inside the period, their cost by tariff window and
// their CO2e. A job that spans a period boundary is split there, never
// counted whole in both periods.
type StatementJob struct {
	Job         uint64
	JobID       string
	Name        string
	User        string
	Account     string
	Joules      float64
	Cost        float64
	CarbonGrams float64
	Tariffs     []StatementTariff
	// Split says part of the job's billed energy lies outside the period;
	// SplitBy says how it was cut: "curve" (its stored power curve) or
	// "time" (no curve kept: in proportion to time).
	Split   bool
	SplitBy string
	// CreditedJoules and CreditedCost are energy the user does not pay
	// (Entry.Credited): not in Joules and Cost.
	CreditedJoules float64
	CreditedCost   float64
	Estimated      bool
}

// StatementTariff is the part of a job's period energy under one tariff.
type StatementTariff struct {
	Tariff      string
	PricePerKWh float64
	Joules      float64
	Cost        float64
}

// StatementUser is one user's jobs in the period and their sums.
type StatementUser struct {
	User   string
	Jobs   []StatementJob
	Totals StatementTotals
}

// StatementTotals sums a statement, or one user's part of it.
type StatementTotals struct {
	Jobs           int
	Joules         float64
	Cost           float64
	CarbonGrams    float64
	CreditedJoules float64
	CreditedCost   float64
}

// Statement is an account's bill for a period [From, To).
type Statement struct {
	From, To time.Time
	Currency string
	Users    []StatementUser // by user name
	Totals   StatementTotals
}

// BuildStatement cuts billed entries at the period [from, to): each entry's
// joules in the period are its joules times the share of its energy that
// its power curve (curves, by job and boot; down-sampled and energy-keeping)
// puts inside, or the share of its time when no curve was kept. Each tariff
// piece of an entry is cut the same way, so the cost is the prices that were
// in force when the energy was used, as the ledger recorded them. Entries
// outside the period are left out; entries marked Credited count apart.
func BuildStatement(entries []Entry, curves map[[2]uint64][]Sample, from, to time.Time) Statement {
	st := Statement{From: from, To: to}
	jobs := map[uint64]*StatementJob{}
	var order []uint64
	for i := range entries {
		e := &entries[i]
		if !e.End.After(from) || !e.Start.Before(to) {
			continue
		}
		if st.Currency == "" {
			st.Currency = e.Currency
		}
		j := jobs[e.Job]
		if j == nil {
			j = &StatementJob{Job: e.Job, JobID: e.JobID, Name: e.Name, User: e.User, Account: e.Account}
			jobs[e.Job] = j
			order = append(order, e.Job)
		}
		curve := curves[[2]uint64{e.Job, e.Boot}]
		frac, by := share(curve, e.Start, e.End, from, to)
		if frac < 1 {
			j.Split = true
			if j.SplitBy == "" || by == "time" {
				j.SplitBy = by
			}
		}
		joules, grams := e.Joules*frac, e.CarbonGrams*frac
		var cost float64
		var tariffs []StatementTariff
		for _, p := range e.Pieces {
			f, _ := share(curve, p.From, p.To, from, to)
			if f == 0 {
				continue
			}
			tariffs = append(tariffs, StatementTariff{Tariff: p.Tariff, PricePerKWh: p.PricePerKWh, Joules: p.Joules * f, Cost: p.Cost * f})
			cost += p.Cost * f
		}
		if len(e.Pieces) == 0 {
			cost = e.Cost * frac
		}
		j.Estimated = j.Estimated || e.Estimated
		if e.Credited {
			j.CreditedJoules += joules
			j.CreditedCost += cost
			continue
		}
		j.Joules += joules
		j.Cost += cost
		j.CarbonGrams += grams
		for _, t := range tariffs {
			k := slices.IndexFunc(j.Tariffs, func(x StatementTariff) bool { return x.Tariff == t.Tariff && x.PricePerKWh == t.PricePerKWh })
			if k < 0 {
				j.Tariffs = append(j.Tariffs, t)
				continue
			}
			j.Tariffs[k].Joules += t.Joules
			j.Tariffs[k].Cost += t.Cost
		}
	}
	byUser := map[string]*StatementUser{}
	for _, id := range order {
		j := jobs[id]
		u := byUser[j.User]
		if u == nil {
			u = &StatementUser{User: j.User}
			byUser[j.User] = u
		}
		u.Jobs = append(u.Jobs, *j)
		u.Totals.add(j)
		st.Totals.add(j)
	}
	for _, u := range byUser {
		slices.SortFunc(u.Jobs, func(a, b StatementJob) int { return cmp.Compare(a.Job, b.Job) })
		st.Users = append(st.Users, *u)
	}
	slices.SortFunc(st.Users, func(a, b StatementUser) int { return cmp.Compare(a.User, b.User) })
	return st
}

func (t *StatementTotals) add(j *StatementJob) {
	t.Jobs++
	t.Joules += j.Joules
	t.Cost += j.Cost
	t.CarbonGrams += j.CarbonGrams
	t.CreditedJoules += j.CreditedJoules
	t.CreditedCost += j.CreditedCost
}

// share is the part of the energy of [start, end] that falls in [from, to):
// by the power curve when it covers the window with energy, else by time.
func share(curve []Sample, start, end, from, to time.Time) (float64, string) {
	a, b := maxTime(start, from), minTime(end, to)
	switch {
	case !a.Before(b):
		return 0, ""
	case !start.Before(from) && !end.After(to):
		return 1, ""
	}
	if len(curve) >= 2 && !curve[0].Time.After(start) && !curve[len(curve)-1].Time.Before(end) {
		// A curve point holds the mean power since the previous point, so
		// the bridging of its gaps is what Downsample meant: no gap limit.
		opt := Options{Interval: end.Sub(start) + time.Second}
		all, err1 := Integrate(curve, start, end, opt)
		in, err2 := Integrate(curve, a, b, opt)
		if err1 == nil && err2 == nil && all.Joules > 0 {
			return min(max(in.Joules/all.Joules, 0), 1), "curve"
		}
	}
	return b.Sub(a).Seconds() / end.Sub(start).Seconds(), "time"
}
