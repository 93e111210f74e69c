package ctld

import (
	"fmt"
	"slices"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/store"
)

// Statement is an account's bill for a period (with the accounts below
// it): every billed job's joules in the period, cut at its edges, priced
// as the ledger recorded them (accounting.BuildStatement). Admins and the
// account's coordinators see every user's jobs; anyone else sees only
// their own (Partial).
func (c *Controller) Statement(who Identity, q api.StatementQuery) (api.Statement, error) {
	from, to, err := statementPeriod(q, c.siteZone())
	if err != nil {
		return api.Statement{}, err
	}
	t := c.acct.tree.Load()
	if q.Account == "" {
		return api.Statement{}, fmt.Errorf("%w: account: is required", ErrInvalid)
	}
	if _, ok := t.Account(q.Account); !ok && !t.Empty() {
		return api.Statement{}, fmt.Errorf("account %s: %w", q.Account, ErrNotFound)
	}
	full := who.Admin || t.Coordinates(who.User, q.Account)
	var entries []accounting.Entry
	curves := map[[2]uint64][]accounting.Sample{}
	err = c.st.View(func(tx *store.Tx) error {
		err := tx.ForEachLedgerEntry(func(e *store.LedgerEntry) error {
			if !e.End.After(from) || !e.Start.Before(to) || !slices.Contains(t.Ancestors(e.Account), q.Account) || !full && e.User != who.User {
				return nil
			}
			entries = append(entries, entryFromStore(e))
			return nil
		})
		if err != nil {
			return err
		}
		// Only entries cut by an edge need their power curve.
		for _, e := range entries {
			if (e.Start.Before(from) || e.End.After(to)) && curves[[2]uint64{e.Job, e.Boot}] == nil {
				cs, err := tx.Curves(e.Job)
				if err != nil {
					return err
				}
				for _, cv := range cs {
					curves[[2]uint64{cv.Job, cv.Boot}] = accountingSamples(cv.Points)
				}
			}
		}
		return nil
	})
	if err != nil {
		return api.Statement{}, err
	}
	st := accounting.BuildStatement(entries, curves, from, to)
	out := apiStatement(q.Account, st)
	if out.Currency == "" && c.cfg.Energy.Tariffs != nil {
		out.Currency = c.cfg.Energy.Tariffs.Currency()
	}
	out.Partial = !full
	out.Unbilled = c.unbilledEnergy(from, to)
	return out, nil
}

// unbilledEnergy is the cluster's energy in [from, to) that no job was
// billed for (idle machines on, failed power-offs, aborted boots, the
// controller down, credited failures, standby), by reason, from the nodes'
// balances (balance.go). Nil when it cannot be read: "not recorded".
func (c *Controller) unbilledEnergy(from, to time.Time) *api.Unbilled {
	b, err := c.Balance(from, to)
	if err != nil {
		c.log.Warn("statement without the cluster's unbilled energy", "err", err)
		return nil
	}
	out := &api.Unbilled{Joules: b.Total.UnbilledJoules + b.Total.StandbyJoules, Reasons: map[string]float64{}}
	for r, j := range b.Total.UnbilledByReason {
		out.Reasons[r] = j
	}
	if b.Total.StandbyJoules > 0 {
		out.Reasons[accounting.ReasonStandby] = b.Total.StandbyJoules
	}
	return out
}

// statementPeriod reads a statement's period: "2026-11" (a month),
// "2026-11-25" (a day) or "2026" (a year) in the site's zone, or Start and
// End as given.
func statementPeriod(q api.StatementQuery, loc *time.Location) (time.Time, time.Time, error) {
	if q.Period != "" {
		if !q.Start.IsZero() || !q.End.IsZero() {
			return time.Time{}, time.Time{}, fmt.Errorf("%w: give a period or a start and end, not both", ErrInvalid)
		}
		for _, f := range []struct {
			layout string
			next   func(time.Time) time.Time
		}{
			{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
			{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
			{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
		} {
			if t, err := time.ParseInLocation(f.layout, q.Period, loc); err == nil {
				return t, f.next(t), nil
			}
		}
		return time.Time{}, time.Time{}, fmt.Errorf("%w: period: %q: want a month like 2026-11, a day like 2026-11-25, or a year", ErrInvalid, q.Period)
	}
	if q.Start.IsZero() || q.End.IsZero() {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: give a period (2026-11) or a start and an end", ErrInvalid)
	}
	if !q.End.After(q.Start) {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: the end %s is not after the start %s", ErrInvalid, q.End.Format(time.RFC3339), q.Start.Format(time.RFC3339))
	}
	return q.Start, q.End, nil
}

func apiStatement(account string, st accounting.Statement) api.Statement {
	out := api.Statement{Account: account, From: st.From, To: st.To, Currency: st.Currency, Totals: api.StatementTotals(st.Totals), Users: []api.StatementUser{}}
	for _, u := range st.Users {
		au := api.StatementUser{User: u.User, Totals: api.StatementTotals(u.Totals)}
		for _, j := range u.Jobs {
			aj := api.StatementJob{Job: j.Job, JobID: j.JobID, Name: j.Name, Account: j.Account, Joules: j.Joules, Cost: j.Cost,
				CarbonGrams: j.CarbonGrams, Split: j.Split, SplitBy: j.SplitBy, CreditedJoules: j.CreditedJoules,
				CreditedCost: j.CreditedCost, Estimated: j.Estimated}
			for _, t := range j.Tariffs {
				aj.Tariffs = append(aj.Tariffs, api.StatementTariff(t))
			}
			au.Jobs = append(au.Jobs, aj)
		}
		out.Users = append(out.Users, au)
	}
	return out
}
