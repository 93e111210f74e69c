package ctld

import (
	"time"

	"github.com/bmc-sched/bmc/store"
)

// sweepEvery is how often billed samples past their retention are dropped.
const sweepEvery = time.Hour

// sweepSamples drops the raw readings of billed boots older than the
// retention, at most once per sweepEvery. A failed sweep is retried at the
// next pass: nothing depends on it but the file's size.
func (c *Controller) sweepSamples() {
	now := c.clk.Now()
	if now.Sub(c.en.swept) < sweepEvery {
		return
	}
	var n int
	err := c.st.Update(func(tx *store.Tx) (err error) {
		n, err = tx.DropBilledSamplesBefore(now.Add(-c.cfg.Energy.retention()))
		return err
	})
	if err != nil {
		c.log.Warn("old power samples not dropped; retried at the next pass", "err", err)
		return
	}
	c.en.swept = now
	if n > 0 {
		c.log.Info("power samples past their retention dropped", "chunks", n, "retention", c.cfg.Energy.retention())
	}
}
