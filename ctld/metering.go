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
	"slices"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/store"
)

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
		rt.setPower(power.Unknown, c.clk.Now())
		rt.onWhy = why
	}
}

// setPower records the machine's power state, known at at. A change wakes
// its meter loop: a reading right at the change keeps the energy on either
// side under the right reason. Called with c.mu held.
func (rt *nodeRT) setPower(st power.State, at time.Time) {
	if st == power.Off {
		rt.watts, rt.onWhy = nil, ""
	}
	if rt.power == st {
		return
	}
	if st == power.Off {
		rt.offAt = at
	}
	rt.power = st
	rt.wake()
}

// wake makes the node's meter loop read now: the power changed, or a
// job's recording let go of the node.
func (rt *nodeRT) wake() {
	select {
	case rt.poke <- struct{}{}:
	default:
	}
}

// meterName names the meter of reading s of this node; its BMC config and
// kind never change while the controller runs, so no lock is needed.
func (rt *nodeRT) meterName(s accounting.Sample) string { return meterOf(rt.bmc, rt.sim, s) }

// unbilledReasonLocked says why a node without a recording draws power
// now, and whether that is known (sure) or a guess while nobody has asked
// its BMC yet (after a start, or a BMC that did not answer). Called with
// c.mu held.
func (c *Controller) unbilledReasonLocked(rt *nodeRT, prev string, s *accounting.Sample) (reason string, sure bool) {
	switch {
	case s != nil && prev != "" && s.Time.Before(rt.offAt):
		// A BMC's reading describes the past: one dated before the
		// machine was seen to go off belongs with the readings before
		// the off, not with the state found after it (a failed
		// power-off's last seconds were booked as idle-on once its retry
		// held and cleared the fault).
		return prev, true
	case rt.Fault == node.FaultPowerOff:
		return accounting.ReasonPowerOffFailed, true
	case rt.onWhy != "":
		return rt.onWhy, true
	case rt.State == node.IdleOn && rt.Warm != nil:
		return accounting.ReasonReuseGap, true // kept for the same user's next job (reuse.go)
	case rt.power == power.On:
		return accounting.ReasonIdleOn, true
	case s != nil && s.Watts > rt.standbyMax() && (rt.power == power.Unknown || rt.idleFloor() > 0):
		// Not asked yet, or off as last asked (when the kind's idle draw
		// is known), but it draws more than a machine that is off:
		// switched on behind the controller's back. The meter's word is
		// as good as the BMC's state.
		return accounting.ReasonIdleOn, true
	case rt.power == power.Off:
		return accounting.ReasonStandby, true
	case prev != "":
		return prev, false // not asked yet: as it was
	}
	return accounting.ReasonStandby, false
}

// standbyMax is the most a machine that is off is taken to draw, to tell
// it from one that is on: half its idle floor when that is known, else
// 20 W (a BMC and PSU draw 5-15 W), used only before its BMC was asked.
func (rt *nodeRT) standbyMax() float64 {
	if f := rt.idleFloor(); f > 0 {
		return f / 2
	}
	return 20
}

// flushMeter writes node's metered total and its changed stretches when
// flushEvery passed (or force). A failed write keeps them for the next.
func (c *Controller) flushMeter(name string, force bool) error {
	c.en.mu.Lock()
	m := c.en.meters[name]
	if m == nil || !m.point && len(m.dirty) == 0 && len(m.edges) == 0 || !force && c.clk.Now().Sub(m.flushed) < c.cfg.Energy.flushEvery() {
		c.en.mu.Unlock()
		return nil
	}
	// While a job's recording reads the node, its flushes store the
	// total, with the samples it counted (meterPointAtLocked), and no
	// point lies past the samples stored.
	var pt *store.MeterPoint
	upto := m.last.Time
	if r := c.en.recs[name]; r != nil {
		upto = time.Time{}
		if r.flushed > 0 {
			upto = r.samples[r.flushed-1].Time
		}
	} else {
		pt = &store.MeterPoint{Node: name, Time: m.last.Time, Joules: m.total, Meter: m.meter, Last: store.Sample(m.last)}
	}
	edges := 0
	for edges < len(m.edges) && !m.edges[edges].Time.After(upto) {
		edges++
	}
	eps := slices.Clone(m.edges[:edges])
	us := m.stretchesUpTo(upto)
	c.en.mu.Unlock()
	err := c.st.Batch(func(tx *store.Tx) error {
		return putMeterPoints(tx, us, eps, pt)
	})
	if err != nil {
		return fmt.Errorf("store the metered energy of node %s: %w", name, err)
	}
	c.en.mu.Lock()
	m.stretchesStored(us)
	if len(eps) > 0 {
		m.dropEdges(eps[len(eps)-1].Time)
	}
	if pt != nil {
		m.point = m.last.Time.After(pt.Time)
	}
	m.flushed = c.clk.Now()
	c.en.mu.Unlock()
	return nil
}

// loadMeters carries every node's metered total on from its last stored
// point, so the first reading after a restart closes the gap.
func (c *Controller) loadMeters() error {
	loaded := map[string]*nodeMeter{}
	err := c.st.View(func(tx *store.Tx) error {
		for name := range c.nodes {
			p, ok, err := tx.LastMeterPoint(name)
			if err != nil {
				return err
			}
			if ok {
				loaded[name] = &nodeMeter{meter: p.Meter, have: true, last: accounting.Sample(p.Last), total: p.Joules, restored: true}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Balance may read the meters already (an API call right after start).
	c.en.mu.Lock()
	defer c.en.mu.Unlock()
	for name, m := range loaded {
		if c.en.meters[name] == nil {
			c.en.meters[name] = m
		}
	}
	return nil
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
//
// For settleReadings after a job's recording let go of the node it reads
// at the sampling interval, not the standby one: the drop to standby
// shows in the BMC's readings up to its latency after the machine went
// off, and may come after the controller saw it off. A trapezoid from the
// last running reading to a standby one 5 s later spread half that step
// over the 5 s: in the lab's conservation test the standby after a job was
// metered 30-70 J above the truth (+1 ... +3.9 % of its first window).
func (c *Controller) meterLoop(ctx context.Context, name string) {
	rt := c.nodes[name]
	var errs, fast int
	for {
		if c.meterTick(ctx, name, rt, &errs) {
			fast = settleReadings
		} else if fast > 0 {
			fast--
		}
		if err := c.flushMeter(name, false); err != nil {
			c.log.Warn("metered energy not stored; retried at the next tick", "node", name, "err", err)
		}
		wait := c.cfg.Energy.standbyEvery()
		if fast > 0 {
			wait = min(wait, c.cfg.Energy.interval())
		}
		select {
		case <-ctx.Done():
			if err := c.flushMeter(name, true); err != nil {
				c.log.Warn("metered energy not stored at shutdown; the next start recovers it from the meter", "node", name, "err", err)
			}
			return
		case <-rt.poke:
		case <-c.clk.After(wait):
		}
	}
}

// settleReadings is how many readings after a recording ends are taken at
// the sampling interval (meterLoop).
const settleReadings = 8

// meterTick takes one reading of a node no recording reads, and books it
// as unbilled with the node's reason. It reports whether a job's recording
// reads the node instead.
func (c *Controller) meterTick(ctx context.Context, name string, rt *nodeRT, errs *int) (busy bool) {
	c.en.mu.Lock()
	busy = c.en.recs[name] != nil
	c.en.mu.Unlock()
	if busy {
		return true
	}
	s, ok := c.readMeter(ctx, name, 0, rt.m, errs)
	if !ok {
		return false
	}
	c.mu.RLock()
	c.en.mu.Lock()
	defer c.en.mu.Unlock()
	defer c.mu.RUnlock()
	if c.en.recs[name] != nil {
		return true // a job's recording started meanwhile: its reading wins
	}
	c.feedUnbilledLocked(name, rt, s)
	return false
}

// feedUnbilledLocked books reading s of a node no job's recording reads,
// under the reason the node draws power now. Called with c.mu (read) and
// c.en.mu held.
func (c *Controller) feedUnbilledLocked(name string, rt *nodeRT, s accounting.Sample) {
	m := c.en.meters[name]
	if m.heldRepeat(s, c.clk.Now()) {
		return
	}
	prev := ""
	if m != nil && m.cur != nil {
		prev = m.cur.Reason
	}
	reason, sure := c.unbilledReasonLocked(rt, prev, &s)
	c.meterFeed(name, rt.meterName(s), s, false, reason, sure)
}
