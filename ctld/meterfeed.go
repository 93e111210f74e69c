package ctld

import (
	"slices"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/store"
)

// nodeMeter is one node's metered total and its open unbilled stretch.
// A job's bill and the meter read the same readings but cut them at
// different times (the bill at the boot's power-on and its end, the meter
// at readings), so the meter splits a reading's energy at those edges, in
// proportion to time, as the bill's own interpolation does.
type nodeMeter struct {
	meter    string
	have     bool
	last     accounting.Sample // the reading the total is advanced to
	total    float64
	restored bool // last comes from the store: the next gap is bmcctld's downtime
	// reason is why the node drew power at the last reading ("" when
	// that was a job's): the energy up to the next reading is booked
	// under it, as the state changed at the earliest right after it.
	reason     string
	reasonSure bool
	// jobFrom is where a starting boot's bill begins: the energy of the
	// job's first reading before it is not the job's. jobEnd is where an
	// ended boot's bill stopped when that is after its last reading.
	jobFrom, jobEnd time.Time
	// tail is the running total at the job's last readings, to find the
	// total where its bill ended; heldTail keeps its last two once the
	// bill ended after them, for the rate the bill held (heldBill).
	tail     []tailPoint
	heldTail []tailPoint
	cur      *store.Unbilled
	dirty    []*store.Unbilled // stretches to write at the next flush
	point    bool              // the total moved since the last flush
	flushed  time.Time
	// regime is where the last reading's energy went ("job", or the
	// stretch's reason); edges are points to store where it changed
	// (edgeOf is the regime the last edge was noted for).
	regime, edgeOf string
	edges          []store.MeterPoint
	// splits are points inside the reading being fed where its energy
	// changes hands (a bill's start or its held end), for edge to store.
	splits []store.MeterPoint
	// holdUntil: up to then, after a confirmed power-off, a reading that
	// repeats the one read before it is what the BMC held (heldRepeat).
	// lastRead is that reading, fed or not (the recording holds back the
	// readings whose window holds the off: offstep.go).
	holdUntil time.Time
	lastRead  accounting.Sample
	haveRead  bool
}

// heldRepeat reports whether s, read at now, repeats the watts of the
// reading read before it while the BMC may still hold that value after a
// power-off, and notes s as read. A BMC stops scanning a host's power
// sensor as it powers the host down, and the lab's ipmi_sim served the
// running tail's 56 W once more 2.2 s after the off, after its sensor
// already showed 12 W; dated as a new publication, 46 J of running power
// a second after the off was metered as standby. A repeated value brings
// no news of the draw, so skipping it loses nothing but that error. Every
// reading of the node passes here, a job's and the meter loop's.
func (m *nodeMeter) heldRepeat(s accounting.Sample, now time.Time) bool {
	if m == nil {
		return false
	}
	prev, had := m.lastRead, m.haveRead
	m.lastRead, m.haveRead = s, true
	return had && !s.Counter && !prev.Counter && s.Watts == prev.Watts && now.Before(m.holdUntil)
}

// tailPoints bounds nodeMeter.tail: a bill ends at most a few readings
// before the recording stops.
const tailPoints = 64

// tailPoint is the running total at a job's reading s.
type tailPoint struct {
	accounting.MeterPoint
	s accounting.Sample
}

// tailTotalAt is the running total at t, cut inside a reading as the
// bill cuts it: watts on the trapezoid of their linear interpolation (a
// straight line through the totals would give a bill that ends halfway
// down a fall from 105 W to 12 W over 2 s some 23 J less than the bill
// has), a counter in proportion to time. Outside the tail it is flat.
func tailTotalAt(tail []tailPoint, t time.Time) float64 {
	i, _ := slices.BinarySearchFunc(tail, t, func(p tailPoint, t time.Time) int { return p.Time.Compare(t) })
	switch {
	case i == 0:
		return tail[0].Joules
	case i == len(tail):
		return tail[i-1].Joules
	}
	a, b := tail[i-1], tail[i]
	j := b.Joules - a.Joules
	if a.s.Counter && b.s.Counter {
		return a.Joules + j*accounting.Overlap(a.Time, b.Time, a.Time, t)
	}
	whole := partTrapezoid(a.s, b.s, b.Time)
	if whole <= 0 {
		return a.Joules + j*accounting.Overlap(a.Time, b.Time, a.Time, t)
	}
	return a.Joules + j*partTrapezoid(a.s, b.s, t)/whole
}

// meterFeed advances node's metered total to reading s. A job's reading
// (forJob) is billed to it; any other goes to the node's open unbilled
// stretch: under the reason in force at the previous reading when that was
// sure, else under reason (sure says whether it is known or a guess).
// Called with c.en.mu held.
func (c *Controller) meterFeed(name, meter string, s accounting.Sample, forJob bool, reason string, sure bool) {
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
	from := a // a moves to a held bill's end below; from stays the reading
	before := m.total
	m.total += j
	m.last, m.point = s, true
	defer m.edge(name, a, before, s)
	restored := m.restored
	m.restored = false
	// upTo is this reading's energy up to t, as a bill that starts or
	// ends at t counts it: watts interpolated linearly, a counter's
	// increment in proportion to time.
	upTo := func(t time.Time) float64 { return j * accounting.Overlap(a.Time, s.Time, a.Time, t) }
	if !a.Counter || !s.Counter {
		upTo = func(t time.Time) float64 { return partTrapezoid(a, s, t) }
	}
	// This reading's stretch follows an ended boot's bill: it holds power
	// unlike the standby after it. That is so also when the bill ended on
	// the reading before (a lab BMC read at the power-off itself).
	lump := !m.jobEnd.IsZero() && !m.jobEnd.Before(a.Time)
	if !m.jobEnd.IsZero() && m.jobEnd.After(a.Time) {
		// The ended boot's bill reaches into this reading: it held its
		// last reading's rate up to jobEnd, and that much is its own.
		held := m.heldBill(a, s, j)
		j -= held
		a.Time = minTime(m.jobEnd, s.Time)
		m.split(name, a.Time, before+held, from, s)
		upTo = func(t time.Time) float64 { return j * accounting.Overlap(a.Time, s.Time, a.Time, t) }
	}
	m.jobEnd = time.Time{}
	if forJob {
		if !m.jobFrom.IsZero() && m.jobFrom.After(a.Time) {
			why := m.reason
			if why == "" {
				why = accounting.ReasonStandby
			}
			if !m.jobFrom.After(s.Time) {
				part := upTo(m.jobFrom)
				m.book(name, meter, a.Time, m.jobFrom, part, est, why)
				m.split(name, m.jobFrom, m.total-(j-part), from, s)
				m.jobFrom = time.Time{}
			} else {
				// A BMC dates its readings in the past: the recording's
				// first may describe the time before the boot's bill.
				m.book(name, meter, a.Time, s.Time, j, est, why)
			}
		}
		m.reason, m.regime = "", "job"
		m.closeStretch()
		m.tail = append(m.tail, tailPoint{MeterPoint: accounting.MeterPoint{Time: s.Time, Joules: m.total}, s: s})
		if len(m.tail) > tailPoints {
			m.tail = m.tail[len(m.tail)-tailPoints:]
		}
		return
	}
	if restored && s.Time.Sub(a.Time) > gap {
		m.closeStretch()
		note := "recovered from the meter's counter"
		if !(a.Counter && s.Counter) {
			note, est = "estimated from the readings either side", true
		}
		m.cur = &store.Unbilled{Node: name, Start: a.Time, End: s.Time, Reason: accounting.ReasonControllerDown,
			Joules: j, Meter: meter, Samples: 1, Estimated: est, Note: note}
		m.closeStretch()
		m.reason, m.reasonSure, m.regime = reason, sure, accounting.ReasonControllerDown
		return
	}
	prev, prevSure := m.reason, m.reasonSure
	m.reason, m.reasonSure = reason, sure
	if prev != "" && prevSure {
		reason = prev
	}
	m.book(name, meter, a.Time, s.Time, j, est, reason)
	m.regime = reason
	if lump {
		// A balance counts a stretch that crosses its period's edge in
		// proportion to time: the ended boot's last power gets a
		// stretch of its own, not spread over the standby after it.
		m.closeStretch()
		m.regime = "after a boot"
	}
}

// edge notes points at readings a (total before) and s (total) when the
// energy up to s went elsewhere than the energy up to a: a balance
// interpolates the total between stored points, and points a flush (15 s)
// apart across a boot's power-on would count boot power into the standby
// before it. Called (deferred) by meterFeed once m.regime is set.
//
// A split inside the reading (where a bill starts or its held end stops) is
// stored too: between a and s the total is then interpolated on each side
// of the split alone, so a period's edge a second before a power-on counts
// no boot energy into the standby before it.
func (m *nodeMeter) edge(name string, a accounting.Sample, before float64, s accounting.Sample) {
	splits := m.splits
	m.splits = nil
	if m.regime == m.edgeOf && len(splits) == 0 {
		return
	}
	m.edgeOf = m.regime
	if n := len(m.edges); n == 0 || a.Time.After(m.edges[n-1].Time) {
		m.edges = append(m.edges, store.MeterPoint{Node: name, Time: a.Time, Joules: before, Meter: m.meter, Last: store.Sample(a)})
	}
	for _, p := range splits {
		if p.Time.After(m.edges[len(m.edges)-1].Time) && p.Time.Before(s.Time) {
			m.edges = append(m.edges, p)
		}
	}
	m.edges = append(m.edges, store.MeterPoint{Node: name, Time: s.Time, Joules: m.total, Meter: m.meter, Last: store.Sample(s)})
}

// split notes the metered total at t, inside the reading from a to s. Its
// Last is a reading made up at t (the watts interpolated, a counter advanced
// by the same energy), so a restart that carries the total on from this
// point counts the rest of the reading once.
func (m *nodeMeter) split(name string, t time.Time, total float64, a, s accounting.Sample) {
	last := accounting.Sample{Time: t, Watts: s.Watts}
	if s.Time.After(a.Time) {
		x := t.Sub(a.Time).Seconds() / s.Time.Sub(a.Time).Seconds()
		last.Watts = a.Watts + (s.Watts-a.Watts)*x
	}
	if s.Counter {
		last.Counter, last.Joules = true, s.Joules-(m.total-total)
	}
	m.splits = append(m.splits, store.MeterPoint{Node: name, Time: t, Joules: total, Meter: m.meter, Last: store.Sample(last)})
}

// partTrapezoid is the energy from reading a to t (a's time at most t at
// most b's) with the power interpolated linearly between a's and b's watts.
func partTrapezoid(a, b accounting.Sample, t time.Time) float64 {
	dt := b.Time.Sub(a.Time).Seconds()
	x := t.Sub(a.Time).Seconds()
	if dt <= 0 || x <= 0 {
		return 0
	}
	x = min(x, dt)
	pt := a.Watts + (b.Watts-a.Watts)*x/dt
	return (a.Watts + pt) / 2 * x
}

// heldBill is the part of joules, the energy from the ended boot's last
// reading a to reading s, that its bill counted: a bill that ends after
// its last reading holds that reading's power (a counter's last rate) up
// to its end, so the meter books the same to it and the rest elsewhere.
func (m *nodeMeter) heldBill(a, s accounting.Sample, joules float64) float64 {
	dt := minTime(m.jobEnd, s.Time).Sub(a.Time).Seconds()
	rate := a.Watts
	if a.Counter {
		n := len(m.heldTail)
		if n < 2 {
			return joules * accounting.Overlap(a.Time, s.Time, a.Time, m.jobEnd)
		}
		p, q := m.heldTail[n-2], m.heldTail[n-1]
		rate = (q.Joules - p.Joules) / q.Time.Sub(p.Time).Seconds()
	}
	return min(max(rate*dt, 0), joules)
}

// book adds joules in [from, to] to the open stretch when it has the same
// reason, else opens a new one.
func (m *nodeMeter) book(name, meter string, from, to time.Time, joules float64, est bool, reason string) {
	if m.cur == nil || m.cur.Reason != reason {
		m.closeStretch()
		m.cur = &store.Unbilled{Node: name, Start: from, Reason: reason, Meter: meter}
	}
	m.cur.End, m.cur.Joules, m.cur.Samples = to, m.cur.Joules+joules, m.cur.Samples+1
	m.cur.Estimated = m.cur.Estimated || est
	m.markDirty()
}

// jobEnded notes that a boot's bill on node ended at end. Readings the
// recording took after it are not the job's: their energy is booked under
// reason (the node's state now). When the bill ended after the last
// reading, the next reading's energy is split there. Called with c.en.mu held.
func (c *Controller) jobEnded(name string, end time.Time, reason string, sure bool) {
	m := c.en.meters[name]
	if m == nil || !m.have {
		return
	}
	defer func() { m.tail = nil }()
	m.reason, m.reasonSure = reason, sure
	if !end.Before(m.last.Time) {
		m.jobEnd = end
		m.heldTail = append(m.heldTail[:0], m.tail[max(len(m.tail)-2, 0):]...)
		return
	}
	if len(m.tail) == 0 || end.Before(m.tail[0].Time) {
		return
	}
	if after := m.total - tailTotalAt(m.tail, end); after > 0 {
		m.book(name, m.meter, end, m.last.Time, after, false, reason)
		m.closeStretch() // a stretch of its own: see meterFeed's lump
	}
}

// meterBillStartsLocked notes that a boot's bill on node starts at at (the
// transition's time, which the bill's phases start from). Called with c.mu held.
func (c *Controller) meterBillStartsLocked(name string, at time.Time) {
	c.en.mu.Lock()
	defer c.en.mu.Unlock()
	if m := c.en.meters[name]; m != nil {
		m.jobFrom, m.tail, m.holdUntil = at, nil, time.Time{}
	}
}

// meterBillEndedLocked tells node's meter where the bill of the boot that
// just left it ended. Called with c.mu held.
func (c *Controller) meterBillEndedLocked(name string, billed []billedEntry) {
	rt, ok := c.nodes[name]
	if !ok {
		return
	}
	var end time.Time
	for _, b := range billed {
		if b.End.After(end) {
			end = b.End
		}
	}
	reason, sure := c.unbilledReasonLocked(rt, "", nil)
	c.en.mu.Lock()
	defer c.en.mu.Unlock()
	c.jobEnded(name, end, reason, sure)
}

// meterPointAtLocked is node's metered total at its job recording's reading
// s, to store with the samples up to s; nil when the total is not at s.
// Stored together, a restart after a crash carries the total on from the
// last reading the bill has too: both span the gap from that reading to
// the next with the same readings, and neither counts what the crash lost.
// Called with c.en.mu held.
func (c *Controller) meterPointAtLocked(name string, s accounting.Sample) *store.MeterPoint {
	m := c.en.meters[name]
	if m == nil || !m.have || !m.last.Time.Equal(s.Time) {
		return nil
	}
	return &store.MeterPoint{Node: name, Time: m.last.Time, Joules: m.total, Meter: m.meter, Last: store.Sample(m.last)}
}

// meterPointStoredLocked notes that pt (if any) is in the store. Called
// with c.en.mu held.
func (c *Controller) meterPointStoredLocked(name string, pt *store.MeterPoint) {
	if m := c.en.meters[name]; m != nil && pt != nil {
		m.point = m.last.Time.After(pt.Time)
	}
}

// meterEdgesUpToLocked is node's edge points up to t, for a recording's
// flush to store with its samples: the edges where a boot starts are then
// stored at once, not lost to a crash before the meter's next flush.
// Called with c.en.mu held.
func (c *Controller) meterEdgesUpToLocked(name string, t time.Time) []store.MeterPoint {
	m := c.en.meters[name]
	if m == nil {
		return nil
	}
	n := 0
	for n < len(m.edges) && !m.edges[n].Time.After(t) {
		n++
	}
	return slices.Clone(m.edges[:n])
}

// meterEdgesStoredLocked drops the edge points up to the last of stored
// (both the meter's and a recording's flush store them). Called with
// c.en.mu held.
func (c *Controller) meterEdgesStoredLocked(name string, stored []store.MeterPoint) {
	if m := c.en.meters[name]; m != nil && len(stored) > 0 {
		m.dropEdges(stored[len(stored)-1].Time)
	}
}

// meterStretchesUpToLocked copies node's changed unbilled stretches that
// end by t, for a recording's flush to store with the meter's points up to
// t. A point stored without the stretches before it is a total a restart
// carries on while the stretches are lost: a kill -9 after a boot's first
// flush once dropped the standby before its power-on from the balance
// (-1.8 %). Called with c.en.mu held.
func (c *Controller) meterStretchesUpToLocked(name string, t time.Time) []store.Unbilled {
	if m := c.en.meters[name]; m != nil {
		return m.stretchesUpTo(t)
	}
	return nil
}

// meterStretchesStoredLocked notes that the stretches us are in the store.
// Called with c.en.mu held.
func (c *Controller) meterStretchesStoredLocked(name string, us []store.Unbilled) {
	if m := c.en.meters[name]; m != nil {
		m.stretchesStored(us)
	}
}

// stretchesUpTo copies the changed stretches that end by t: stored with a
// point at t, and never past the points stored, they and the total agree
// after a restart.
func (m *nodeMeter) stretchesUpTo(t time.Time) []store.Unbilled {
	var us []store.Unbilled
	for _, u := range m.dirty {
		if !u.End.After(t) {
			us = append(us, *u)
		}
	}
	return us
}

// stretchesStored drops the stretches stored as they are now from those
// to write; the open one is written again as it grows.
func (m *nodeMeter) stretchesStored(us []store.Unbilled) {
	m.dirty = slices.DeleteFunc(m.dirty, func(u *store.Unbilled) bool {
		return slices.ContainsFunc(us, func(s store.Unbilled) bool {
			return s.Start.Equal(u.Start) && s.End.Equal(u.End) && s.Joules == u.Joules
		})
	})
	if m.cur != nil {
		m.markDirty()
	}
}

func (m *nodeMeter) dropEdges(upto time.Time) {
	n := 0
	for n < len(m.edges) && !m.edges[n].Time.After(upto) {
		n++
	}
	m.edges = m.edges[n:]
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

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
