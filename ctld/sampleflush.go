package ctld

// Writing a recording's power samples to the store: when losing them
// would cost the bill, at the latest every flushEvery, and again after a
// write that failed.

import (
	"fmt"
	"math"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/store"
)

// flushIfDue writes r's new samples to the store when the first one is
// still unsaved (a counter needs its start), when losing them would cost
// the bill (flushDueLocked), or when flushEvery has passed since the last
// flush that held. On an error the samples stay in memory and unflushed,
// so the flush is due again at the next tick; the bill reads them from
// memory meanwhile.
func (c *Controller) flushIfDue(r *recording, force bool) error {
	c.en.mu.Lock()
	if r.flushed == len(r.samples) || (!force && !c.flushDueLocked(r)) {
		c.en.mu.Unlock()
		return nil
	}
	chunk := store.SampleChunk{Node: r.node, Job: r.job, Boot: r.boot, Samples: storeSamples(r.samples[r.flushed:]), RAPL: r.rapl, CounterMax: r.raplMax}
	upto := len(r.samples)
	pt := c.meterPointAtLocked(r.node, r.samples[upto-1])
	edges := c.meterEdgesUpToLocked(r.node, r.samples[upto-1].Time)
	us := c.meterStretchesUpToLocked(r.node, r.samples[upto-1].Time)
	c.en.mu.Unlock()
	// The store writes nothing once the boot is billed: its raw samples are
	// gone for good, and a flush racing the bill must not bring them back.
	err := c.st.Batch(func(tx *store.Tx) error {
		if err := tx.AppendSamples(&chunk); err != nil {
			return err
		}
		return putMeterPoints(tx, us, edges, pt)
	})
	if err != nil {
		return fmt.Errorf("store %d power samples of node %s: %w", len(chunk.Samples), r.node, err)
	}
	c.en.mu.Lock()
	r.flushed, r.lastFlush = max(r.flushed, upto), c.clk.Now()
	c.meterPointStoredLocked(r.node, pt)
	c.meterEdgesStoredLocked(r.node, edges)
	c.meterStretchesStoredLocked(r.node, us)
	c.en.mu.Unlock()
	return nil
}

// flushDueLocked reports whether r's unwritten samples are due in the
// store. A crash loses them, and the bill made after the restart bridges
// the stored reading before them to the first one after with a straight
// line: exact for a steady draw or a counter, but a boot's climb from
// standby lost that way once cost a one-minute window 36 % of its energy
// (the lab's kill -9 landed just before a 15 s flush). So samples are
// written as soon as that line would misbook more than flushLoss of
// them, and at the latest flushEvery after the last write.
func (c *Controller) flushDueLocked(r *recording) bool {
	if r.flushed == 0 || c.clk.Now().Sub(r.lastFlush) >= c.cfg.Energy.flushEvery() {
		return true
	}
	loss, bridged := accounting.BridgeLoss(r.samples[r.flushed-1:])
	return loss > max(flushLossJoules, flushLossShare*math.Abs(bridged))
}

// A crash may cost the bill up to flushLossJoules or flushLossShare of
// the unwritten stretch's energy, whichever is more: noise on a steady
// draw (a 4 W sensor step) stays under it for a few readings, a change
// of draw does not.
const (
	flushLossJoules = 2.0
	flushLossShare  = 0.005
)

// flushed takes a flush's outcome. Failures are retried at every tick
// until one holds; the first of a run and the recovery are logged, each
// one goes to the SampleFlushFailed hook (a metric), and what a crash
// would lose meanwhile is only the unsaved stretch, which the bill then
// shows as a gap, estimated with its reason.
func (c *Controller) flushed(r *recording, err error) {
	c.en.mu.Lock()
	failures, pending := r.flushErrs, len(r.samples)-r.flushed
	if err != nil {
		r.flushErrs++
	} else {
		r.flushErrs = 0
	}
	c.en.mu.Unlock()
	switch {
	case err != nil:
		if failures == 0 {
			c.log.Warn("power samples not stored; kept in memory and retried every tick", "node", r.node, "job", r.job,
				"pending", pending, "err", err)
		}
		if c.hooks.SampleFlushFailed != nil {
			c.hooks.SampleFlushFailed(r.node)
		}
	case failures > 0:
		c.log.Info("power samples stored again", "node", r.node, "job", r.job, "failed_flushes", failures)
	}
}

// putMeterPoints stores a node's meter points: its unbilled stretches up
// to them, the edges where its readings' energy changed hands, then its
// current point, if any.
func putMeterPoints(tx *store.Tx, us []store.Unbilled, edges []store.MeterPoint, pt *store.MeterPoint) error {
	for i := range us {
		if err := tx.PutUnbilled(&us[i]); err != nil {
			return err
		}
	}
	for i := range edges {
		if err := tx.PutMeterPoint(&edges[i]); err != nil {
			return err
		}
	}
	if pt == nil {
		return nil
	}
	return tx.PutMeterPoint(pt)
}
