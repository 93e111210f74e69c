package ctld

import (
	"fmt"
	"slices"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/store"
)

// AcctFilter narrows Acct. Empty sets match everything.
type AcctFilter struct {
	IDs      map[uint64]bool
	Users    map[string]bool
	Accounts map[string]bool
	States   map[job.State]bool
	// Start and End keep jobs whose billed window overlaps [Start, End].
	Start, End time.Time
	Entries    bool
}

// Acct reads the ledger and sums it by job, in job id order. A job's state
// is its state now; its energy is every boot it was billed for.
func (c *Controller) Acct(f AcctFilter) (api.AcctList, error) {
	var out api.AcctList
	if ts := c.cfg.Energy.Tariffs; ts != nil {
		out.Currency = ts.Currency()
	}
	var entries []accounting.Entry
	states := map[uint64]job.State{}
	// Jobs on a powered node have no ledger entries for their current boot
	// yet: show their energy so far, computed as the bill will be. Their
	// facts are read under the lock, before the read transaction (see
	// ListJobs for why never the other way round).
	type liveJob struct {
		j     *job.Job
		facts accounting.Facts
	}
	var live []liveJob
	liveBoot := map[uint64]uint64{}
	c.mu.RLock()
	for _, j := range c.jobs {
		if powered(j.State) && (len(f.IDs) == 0 || f.IDs[j.ID]) {
			live = append(live, liveJob{j, c.factsLocked(j, j.State)})
			liveBoot[j.ID] = j.Boot
		}
	}
	c.mu.RUnlock()
	now := c.clk.Now()
	err := c.st.View(func(tx *store.Tx) error {
		add := func(e *store.LedgerEntry) error {
			entries = append(entries, entryFromStore(e))
			return nil
		}
		if len(f.IDs) == 1 {
			for id := range f.IDs {
				es, err := tx.LedgerEntries(id)
				if err != nil {
					return err
				}
				for i := range es {
					add(&es[i])
				}
			}
		} else if err := tx.ForEachLedgerEntry(add); err != nil {
			return err
		}
		for _, lj := range live {
			b, _, err := c.computeBill(tx, lj.j, lj.facts, now)
			if err != nil {
				return err
			}
			entries = append(entries, b.Entries...)
		}
		slices.SortStableFunc(entries, func(a, b accounting.Entry) int { return accounting.CompareEntries(&a, &b) })
		for _, e := range entries {
			if _, ok := states[e.Job]; ok {
				continue
			}
			if j, err := tx.Job(e.Job); err == nil {
				states[e.Job] = j.State
			}
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	// Live records are newer than the store only by what is being committed.
	c.mu.RLock()
	for id := range states {
		if j, ok := c.jobs[id]; ok {
			states[id] = j.State
		}
	}
	c.mu.RUnlock()
	for i := 0; i < len(entries); {
		k := i
		for k < len(entries) && entries[k].Job == entries[i].Job {
			k++
		}
		id := entries[i].Job
		lb, isLive := liveBoot[id]
		aj := acctJob(accounting.SumJob(entries[i:k]), states[id])
		aj.Live = isLive
		if f.match(&aj) {
			if f.Entries {
				for x := range entries[i:k] {
					e := &entries[i+x]
					aj.Entries = append(aj.Entries, apiEntry(e, isLive && e.Boot == lb))
				}
			}
			out.Jobs = append(out.Jobs, aj)
		}
		i = k
	}
	return out, nil
}

func (f AcctFilter) match(j *api.AcctJob) bool {
	return (len(f.IDs) == 0 || f.IDs[j.ID]) &&
		(len(f.Users) == 0 || f.Users[j.User]) &&
		(len(f.Accounts) == 0 || f.Accounts[j.Account]) &&
		(len(f.States) == 0 || f.States[j.State]) &&
		(f.Start.IsZero() || !j.End.Before(f.Start)) &&
		(f.End.IsZero() || !j.Start.After(f.End))
}

// Curve returns the power curve of each boot of a job: stored
// (down-sampled) once billed, live from memory while the node is on.
func (c *Controller) Curve(id uint64) (api.PowerCurve, error) {
	out := api.PowerCurve{Job: id}
	c.mu.RLock()
	j, live := c.jobs[id]
	live = live && powered(j.State)
	c.mu.RUnlock()
	now := c.clk.Now()
	err := c.st.View(func(tx *store.Tx) error {
		cs, err := tx.Curves(id)
		if err != nil {
			return err
		}
		for i := range cs {
			out.Boots = append(out.Boots, storedCurve(&cs[i]))
		}
		if !live {
			return nil
		}
		bs, err := c.samplesTx(tx, j.Node, j.ID, j.Boot)
		if err != nil {
			return err
		}
		events, err := tx.Events(id)
		if err != nil {
			return err
		}
		ph, _, _ := accounting.PhasesOf(events, now)
		samples := bs.samples
		if ds := accounting.PowerCurve(samples, bs.opt); ds != nil {
			samples = ds
		}
		out.Boots = append(out.Boots, apiCurve(j.Boot, j.Node, ph, samples))
		return nil
	})
	if err != nil {
		return out, err
	}
	if len(out.Boots) == 0 {
		return out, fmt.Errorf("job %d: no power samples: %w", id, ErrNotFound)
	}
	return out, nil
}
