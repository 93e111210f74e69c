package ctld

// Continuous metering of every node, and the unbilled ledger: every reading
// of a node's out-of-band meter advances its metered total; a reading taken
// for a job's recording is the job's (its bill covers it), any other is
// energy billed to no job, kept as a stretch with the reason the node was
// drawing it (accounting.Reason*), or as standby while it is off. A
// restart carries the total on from its last stored point, so a counter
// meter recovers what the node drew while bmcctld was down.

import (
	"context"
	"fmt"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/store"
)

// nodeMeter is one node's metered total and its open unbilled stretch.
type nodeMeter struct {
	meter    string
	have     bool
	last     accounting.Sample // the reading the total is advanced to
	total    float64
	restored bool // last comes from the store: the next gap is bmcctld's downtime
	cur      *store.Unbilled
	dirty    []*store.Unbilled // stretches to write at the next flush
	point    bool              // the total moved since the last flush
	flushed  time.Time
}

// meterOf names the meter a node's out-of-band readings come from, from
// its BMC's protocol and the kind of reading.
func meterOf(cfg node.BMC, simulated bool, s accounting.Sample) string {
	switch {
	case simulated:
		return accounting.MeterModel
	case cfg.Protocol == "redfish" && s.Counter:
		return accounting.MeterRedfishCounter
	case cfg.Protocol == "redfish":
		return accounting.MeterRedfishWatts
	case cfg.Protocol == "ipmi" && cfg.PowerSensor != "":
		return accounting.MeterSDR
	case cfg.Protocol == "ipmi":
		return accounting.MeterDCMI
	}
	return cfg.Protocol
}

// mayBeOn notes that a node left by a job may be on for why (a power-on
// that failed): its energy until it is seen off is unbilled for that reason.
func (c *Controller) mayBeOn(name, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rt, ok := c.nodes[name]; ok {
		rt.onWhy, rt.power = why, power.Unknown
	}
}

// meterName names the meter of reading s of this node; its BMC config and
// kind never change while the controller runs, so no lock is needed.
func (rt *nodeRT) meterName(s accounting.Sample) string { return meterOf(rt.bmc, rt.sim, s) }

// unbilledReasonLocked says why a node without a recording draws power
// now. Called with c.mu held.
func (c *Controller) unbilledReasonLocked(rt *nodeRT, prev string) string {
	switch {
	case rt.Fault == node.FaultPowerOff:
		return accounting.ReasonPowerOffFailed
	case rt.power == power.Off:
		return accounting.ReasonStandby
	case rt.onWhy != "":
		return rt.onWhy
	case rt.power == power.On:
		return accounting.ReasonIdleOn
	case prev != "":
		return prev // not asked yet: as it was
	}
	return accounting.ReasonStandby
}

// meterFeed advances node's metered total to reading s. A job's reading
// (forJob) is billed to it; any other goes to the node's open unbilled
// stretch under reason. Called with c.en.mu held.
func (c *Controller) meterFeed(name string, meter string, s accounting.Sample, forJob bool, reason string) {
	m := c.en.meters[name]
	if m == nil {
		m = &nodeMeter{}
		c.en.meters[name] = m
	}
	m.meter = meter
	if !m.have {
		m.have, m.last, m.point = true, s, true
		return
	}
	if !s.Time.After(m.last.Time) {
		return
	}
	// Readings of a node with no job come every standbyEvery; a tick late
	// by a little is not a gap.
	gap := max(5*max(c.cfg.Energy.interval(), time.Second), 2*c.cfg.Energy.standbyEvery())
	j, est := accounting.Between(m.last, s, gap)
	a := m.last
	m.total += j
	m.last, m.point = s, true
	restored := m.restored
	m.restored = false
	if forJob {
		m.closeStretch()
		return
	}
	if restored && s.Time.Sub(a.Time) > gap {
		m.closeStretch()
		note := "recovered from the meter's counter"
		if !(a.Counter && s.Counter) {
			note = "estimated from the readings either side"
			est = true
		}
		m.cur = &store.Unbilled{Node: name, Start: a.Time, End: s.Time, Reason: accounting.ReasonControllerDown,
			Joules: j, Meter: meter, Samples: 1, Estimated: est, Note: note}
		m.dirty = append(m.dirty, m.cur)
		m.cur = nil
		return
	}
	if m.cur == nil || m.cur.Reason != reason {
		m.closeStretch()
		m.cur = &store.Unbilled{Node: name, Start: a.Time, Reason: reason, Meter: meter}
	}
	m.cur.End, m.cur.Joules, m.cur.Samples = s.Time, m.cur.Joules+j, m.cur.Samples+1
	m.cur.Estimated = m.cur.Estimated || est
	m.markDirty()
}

func (m *nodeMeter) markDirty() {
	if n := len(m.dirty); n == 0 || m.dirty[n-1] != m.cur {
		m.dirty = append(m.dirty, m.cur)
	}
}

// closeStretch ends the open stretch; it is written at the next flush.
func (m *nodeMeter) closeStretch() {
	if m.cur != nil {
		m.markDirty()
		m.cur = nil
	}
}

// flushMeter writes node's metered total and its changed stretches when
// flushEvery passed (or force). A failed write keeps them for the next.
func (c *Controller) flushMeter(name string, force bool) error {
	c.en.mu.Lock()
	m := c.en.meters[name]
	if m == nil || !m.point && len(m.dirty) == 0 || !force && c.clk.Now().Sub(m.flushed) < c.cfg.Energy.flushEvery() {
		c.en.mu.Unlock()
		return nil
	}
	pt := store.MeterPoint{Node: name, Time: m.last.Time, Joules: m.total, Meter: m.meter, Last: store.Sample(m.last)}
	var us []store.Unbilled
	for _, u := range m.dirty {
		us = append(us, *u)
	}
	n := len(m.dirty)
	c.en.mu.Unlock()
	err := c.st.Batch(func(tx *store.Tx) error {
		for i := range us {
			if err := tx.PutUnbilled(&us[i]); err != nil {
				return err
			}
		}
		return tx.PutMeterPoint(&pt)
	})
	if err != nil {
		return fmt.Errorf("store the metered energy of node %s: %w", name, err)
	}
	c.en.mu.Lock()
	m.dirty = m.dirty[n:]
	if m.cur != nil {
		m.markDirty() // still growing: written again next time
	}
	m.point = m.last.Time.After(pt.Time)
	m.flushed = c.clk.Now()
	c.en.mu.Unlock()
	return nil
}

// loadMeters carries every node's metered total on from its last stored
// point, so the first reading after a restart closes the gap.
func (c *Controller) loadMeters() error {
	return c.st.View(func(tx *store.Tx) error {
		for name := range c.nodes {
			p, ok, err := tx.LastMeterPoint(name)
			if err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
			c.en.meters[name] = &nodeMeter{meter: p.Meter, have: true, last: accounting.Sample(p.Last), total: p.Joules, restored: true}
		}
		return nil
	})
}

// standbyEvery is how often a node that is off, or on with no job, is
// read: standby changes slowly, and a BMC answers one query at a time.
func (e EnergyConfig) standbyEvery() time.Duration {
	if e.StandbyInterval > 0 {
		return e.StandbyInterval
	}
	return 5 * e.interval()
}

// startMetering starts a meter loop for every node whose BMC reads
// power, unless sampling is off.
func (c *Controller) startMetering(ctx context.Context) {
	if c.cfg.Energy.interval() < 0 {
		return
	}
	for _, name := range c.names {
		if !hasMeter(c.nodes[name].m) {
			continue
		}
		c.runGroup.Add(1)
		go func() {
			defer c.runGroup.Done()
			c.meterLoop(ctx, name)
		}()
	}
}

// meterLoop reads a node's meter whenever no job's recording does, for as
// long as the controller runs.
func (c *Controller) meterLoop(ctx context.Context, name string) {
	rt := c.nodes[name]
	var errs int
	for {
		c.meterTick(ctx, name, rt, &errs)
		if err := c.flushMeter(name, false); err != nil {
			c.log.Warn("metered energy not stored; retried at the next tick", "node", name, "err", err)
		}
		select {
		case <-ctx.Done():
			if err := c.flushMeter(name, true); err != nil {
				c.log.Warn("metered energy not stored at shutdown; the next start recovers it from the meter", "node", name, "err", err)
			}
			return
		case <-c.clk.After(c.cfg.Energy.standbyEvery()):
		}
	}
}

// meterTick takes one reading of a node no recording reads, and books it
// as unbilled with the node's reason.
func (c *Controller) meterTick(ctx context.Context, name string, rt *nodeRT, errs *int) {
	c.en.mu.Lock()
	busy := c.en.recs[name] != nil
	c.en.mu.Unlock()
	if busy {
		return
	}
	s, ok := c.readMeter(ctx, name, 0, rt.m, errs)
	if !ok {
		return
	}
	c.mu.RLock()
	c.en.mu.Lock()
	defer c.en.mu.Unlock()
	defer c.mu.RUnlock()
	if c.en.recs[name] != nil {
		return // a job's recording started meanwhile: its reading wins
	}
	prev := ""
	if m := c.en.meters[name]; m != nil && m.cur != nil {
		prev = m.cur.Reason
	}
	c.meterFeed(name, rt.meterName(s), s, false, c.unbilledReasonLocked(rt, prev))
}
