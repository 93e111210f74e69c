package ctld

import (
	"fmt"
	"math"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/store"
)

// A bill can be disputed: its raw readings are kept (compacted) for the
// samples' retention, JobSamples shows them and Recompute bills each boot
// again from them, beside what the ledger says.

// bootRef is one boot of a job on its node, with its ledger entries.
type bootRef struct {
	node    string
	boot    uint64
	entries []store.LedgerEntry
}

// billedBoots groups a job's ledger entries by boot, in boot order.
func billedBoots(es []store.LedgerEntry) []bootRef {
	var out []bootRef
	for _, e := range es {
		if n := len(out); n > 0 && out[n-1].boot == e.Boot {
			out[n-1].entries = append(out[n-1].entries, e)
			continue
		}
		out = append(out, bootRef{node: e.Node, boot: e.Boot, entries: []store.LedgerEntry{e}})
	}
	return out
}

// JobSamples returns the readings of each boot of job id: billed boots'
// kept readings, and the boot in progress.
func (c *Controller) JobSamples(id uint64) (api.JobSamples, error) {
	out := api.JobSamples{Job: id, Boots: []api.BootSamples{}}
	c.mu.RLock()
	j, known := c.jobs[id]
	c.mu.RUnlock()
	err := c.st.View(func(tx *store.Tx) error {
		es, err := tx.LedgerEntries(id)
		if err != nil {
			return err
		}
		boots := billedBoots(es)
		if known && powered(j.State) {
			boots = append(boots, bootRef{node: j.Node, boot: j.Boot})
		}
		if len(boots) == 0 {
			if _, err := tx.Job(id); err != nil {
				return fmt.Errorf("job %d: %w", id, ErrNotFound)
			}
		}
		for _, b := range boots {
			bs, err := c.samplesTx(tx, b.node, id, b.boot)
			if err != nil {
				return err
			}
			ab := api.BootSamples{Boot: b.boot, Node: b.node, RAPL: bs.rapl, CounterMax: bs.opt.CounterMax, Samples: []api.Sample{}}
			for _, s := range bs.samples {
				ab.Samples = append(ab.Samples, api.Sample(s))
			}
			if len(b.entries) > 0 {
				ab.Meter = b.entries[0].Meter
			}
			out.Boots = append(out.Boots, ab)
		}
		return nil
	})
	return out, err
}

// Recompute bills each billed boot of job id again from its kept readings,
// the job's event log up to the boot's bill and the facts the ledger
// recorded, and sets the result beside each entry. Nothing is written.
func (c *Controller) Recompute(id uint64) (api.Recompute, error) {
	out := api.Recompute{Job: id, Entries: []api.RecomputeEntry{}}
	err := c.st.View(func(tx *store.Tx) error {
		es, err := tx.LedgerEntries(id)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return fmt.Errorf("job %d has no bill: %w", id, ErrNotFound)
		}
		events, err := tx.Events(id)
		if err != nil {
			return err
		}
		for _, b := range billedBoots(es) {
			first, last := b.entries[0], b.entries[len(b.entries)-1]
			chunks, err := tx.BootSamples(b.node, id, b.boot)
			if err != nil {
				return err
			}
			var bill accounting.Bill
			if len(chunks) > 0 {
				facts := entryFromStore(&first).Facts
				j := &job.Job{ID: id, Node: b.node, Boot: b.boot}
				bill, _, err = c.billFrom(tx, j, facts, bootEvents(events, first.Start, last.Recorded), last.End)
				if err != nil {
					return err
				}
			}
			for _, e := range b.entries {
				re := api.RecomputeEntry{Boot: b.boot, Phase: e.Phase, BilledJoules: e.Joules, BilledCost: e.Cost}
				switch r := findPhase(bill, e.Phase); {
				case len(chunks) == 0:
					re.Missing = "no readings kept (past the samples' retention, or billed before they were kept)"
				case r == nil:
					re.Missing = "the recomputed bill has no such phase"
				default:
					re.RecomputedJoules, re.RecomputedCost = r.Joules, r.Cost
					re.DiffJoules = r.Joules - e.Joules
					if math.Abs(re.DiffJoules) < 1e-9 {
						re.DiffJoules = 0
					}
				}
				out.Entries = append(out.Entries, re)
			}
		}
		return nil
	})
	return out, err
}

// bootEvents is the part of a job's event log that one boot's bill read:
// up to its bill's commit (recorded), without the power-ons of later
// boots (the bill bills the latest power-on in what it is given).
func bootEvents(events []job.Event, powerOn, recorded time.Time) []job.Event {
	var out []job.Event
	for _, e := range events {
		if e.Time.After(recorded) || e.State == job.PoweringOn && e.Time.After(powerOn) {
			continue
		}
		out = append(out, e)
	}
	return out
}

func findPhase(b accounting.Bill, phase string) *accounting.Entry {
	for i := range b.Entries {
		if string(b.Entries[i].Phase) == phase {
			return &b.Entries[i]
		}
	}
	return nil
}
