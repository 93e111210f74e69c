package ctld

import (
	"fmt"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/scheduler"
	"github.com/bmc-sched/bmc/store"
)

// energyPrefer predicts, for each waiting job with arch = "any", the
// machine kind its application used the fewest mean joules on, from the
// completed runs in the ledger: the means `bmcq acct --compare` shows
// (accounting.Compare). A job whose application has run on fewer than two
// kinds gets nothing and keeps the normal order. The ledger is read only
// when such a job waits, once per pass (a pass with one costs a JSON decode
// per ledger entry). It reads the store and must be called without c.mu
// held. A ledger that cannot be read fails the pass, which the next one
// retries: placing the jobs without their preference would quietly cost
// their users joules.
func (c *Controller) energyPrefer(jobs []*job.Job) (map[uint64]scheduler.Preference, error) {
	var out map[uint64]scheduler.Preference
	var apps map[[2]string][]accounting.CompareRow
	for _, j := range jobs {
		if j.State != job.Pending || j.Spec.Arch != job.ArchAny {
			continue
		}
		if apps == nil {
			var err error
			if apps, err = c.ledgerKinds(); err != nil {
				return nil, fmt.Errorf("read the ledger for arch=any placement: %w", err)
			}
		}
		ks := apps[accounting.AppKey(j.Spec.Image, commandLine(j.Spec.Command))]
		if len(ks) < 2 {
			continue
		}
		if out == nil {
			out = map[uint64]scheduler.Preference{}
		}
		out[j.ID] = scheduler.Preference{Kind: ks[0].Kind, Reason: accounting.PreferReason(ks)}
	}
	return out, nil
}

// ledgerKinds sums the ledger job by job (its entries come in job order)
// and gives accounting's per-kind means of each application.
func (c *Controller) ledgerKinds() (map[[2]string][]accounting.CompareRow, error) {
	var jobs []accounting.JobUsage
	var cur []accounting.Entry
	err := c.st.View(func(tx *store.Tx) error {
		return tx.ForEachLedgerEntry(func(e *store.LedgerEntry) error {
			if len(cur) > 0 && cur[0].Job != e.Job {
				jobs = append(jobs, accounting.SumJob(cur).Usage())
				cur = cur[:0]
			}
			cur = append(cur, entryFromStore(e))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if len(cur) > 0 {
		jobs = append(jobs, accounting.SumJob(cur).Usage())
	}
	return accounting.KindsByApp(accounting.Compare(jobs)), nil
}
