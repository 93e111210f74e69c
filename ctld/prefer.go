package ctld

import (
	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/scheduler"
	"github.com/bmc-sched/bmc/store"
)

// energyPrefer predicts, for each waiting job with arch = "any", the
// machine kind its application used the fewest mean joules on, from the
// completed runs in the ledger (accounting.KindHistory). A job whose
// application has run on fewer than two kinds gets nothing and keeps the
// normal order. The ledger is read only when such a job waits, once per
// pass (a pass with one costs a JSON decode per ledger entry). It reads the
// store and must be called without c.mu held.
func (c *Controller) energyPrefer(jobs []*job.Job) map[uint64]scheduler.Preference {
	var out map[uint64]scheduler.Preference
	var apps map[[2]string][]accounting.KindEnergy
	for _, j := range jobs {
		if j.State != job.Pending || j.Spec.Arch != job.ArchAny {
			continue
		}
		if apps == nil {
			var err error
			if apps, err = c.ledgerMeans(); err != nil {
				c.log.Error("read the ledger for arch=any placement", "err", err)
				return nil
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
	return out
}

// ledgerMeans feeds the whole ledger to accounting's per-kind means.
func (c *Controller) ledgerMeans() (map[[2]string][]accounting.KindEnergy, error) {
	var h accounting.KindHistory
	err := c.st.View(func(tx *store.Tx) error {
		return tx.ForEachLedgerEntry(func(e *store.LedgerEntry) error {
			ae := entryFromStore(e)
			h.Add(&ae)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return h.Means(), nil
}
