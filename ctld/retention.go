package ctld

import (
	"time"

	"github.com/bmc-sched/bmc/store"
)

// sweepEvery is how often billed samples past their retention are dropped
// and old meter points thinned.
const sweepEvery = time.Hour

// Meter points (one per node per flush) older than meterDetail are thinned
// to the first and last of each meterThin: a balance's period edge in the
// past is then interpolated within an hour, and the file does not grow by
// millions of points a year per node.
const (
	meterDetail = 24 * time.Hour
	meterThin   = time.Hour
)

// sweepSamples drops the raw readings of billed boots older than the
// retention, at most once per sweepEvery. A failed sweep is retried at the
// next pass: nothing depends on it but the file's size.
func (c *Controller) sweepSamples() {
	now := c.clk.Now()
	if now.Sub(c.en.swept) < sweepEvery {
		return
	}
	var n, thinned int
	err := c.st.Update(func(tx *store.Tx) (err error) {
		if n, err = tx.DropBilledSamplesBefore(now.Add(-c.cfg.Energy.retention())); err != nil {
			return err
		}
		thinned, err = tx.ThinMeterPoints(now.Add(-meterDetail), meterThin)
		return err
	})
	if err != nil {
		c.log.Warn("old power samples not dropped; retried at the next pass", "err", err)
		return
	}
	c.en.swept = now
	if n > 0 || thinned > 0 {
		c.log.Info("power samples past their retention dropped", "chunks", n, "retention", c.cfg.Energy.retention(),
			"meter_points_thinned", thinned)
	}
}
