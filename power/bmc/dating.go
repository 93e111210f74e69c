package bmc

import (
	"sync"
	"time"

	"github.com/bmc-sched/bmc/node"
)

// readingClock dates a BMC's power readings. A BMC shows the mean power over
// its last window, publishes a new mean every period, and a mean becomes
// visible lag after its window closed: a reading describes the past by
// lag + window/2 and up to a period more. Stamped with the time it was read,
// a reading is late, and a bill from late readings misses the power-on step
// (the BMC still shows standby while the machine draws its boot power): by
// ~1.75 s of boot power on the lab's sensor, −1.3 … −2.2 % of a one-minute job.
//
// So each reading is dated at the middle of the window it describes:
// publication − lag − window/2. When it was published is known only to the
// BMC: up to a period before the read. When two reads less than a period
// apart see the value change, a publication lies between them. The clock
// keeps that interval, narrows it with each later one (publications are a
// whole number of periods apart), and dates readings by the latest
// publication it implies; the controller's fast reads right after power-on
// (4 a second) give it one within the first second of a boot. Without one,
// or once it is older than trustPeriods (the BMC's period drifts against
// ours), a reading is taken to be half a period old, the mean over a
// reader whose phase against the BMC's is unknown.
//
// Zero window, period and lag date a reading when it was read, as before.
type readingClock struct {
	window, period, lag time.Duration

	mu   sync.Mutex
	have bool // prev holds the last read
	prev read
	// A publication happened in (lo, hi]; known says the interval holds
	// one, confirmed is the read that last narrowed it.
	lo, hi    time.Time
	known     bool
	confirmed time.Time
}

// read is one reading: the call ran from start to end and returned watts.
type read struct {
	start, end time.Time
	watts      float64
}

// trustPeriods is how many periods a learnt publication phase is used
// after the read that last confirmed it. The controller's one-a-second
// reads, as fast as a 1 s BMC publishes, never confirm it; a phase older
// than this falls back to half a period, which mid-run (steady power) costs
// nearly nothing, while a drifted phase would date every reading wrong.
const trustPeriods = 60

func newReadingClock(cfg node.BMC) *readingClock {
	return &readingClock{window: cfg.PowerWindow, period: cfg.PowerPeriod, lag: cfg.PowerLag}
}

func (c *readingClock) zero() bool { return c.window == 0 && c.period == 0 && c.lag == 0 }

// Latency is how far at most a reading's date lies before the read: a
// sampler that wants readings describing an instant (the confirmed power
// off) reads until one is dated after it, or for this long.
func (c *readingClock) Latency() time.Duration { return c.lag + c.window/2 + c.period }

// Window is the span one reading averages.
func (c *readingClock) Window() time.Duration { return c.window }

// date learns from the read r and returns the time its watts describe.
func (c *readingClock) date(r read) time.Time {
	if c.zero() {
		return r.end
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.observe(r)
	at := r.start.Add(r.end.Sub(r.start) / 2)
	age := c.period / 2
	if pub, ok := c.published(at); ok {
		age = at.Sub(pub)
	}
	return at.Add(-age - c.lag - c.window/2)
}

// observe narrows the publication phase by a change of the value seen
// between the previous read and r. Reads that overlap (concurrent calls)
// teach nothing.
func (c *readingClock) observe(r read) {
	if c.period <= 0 {
		return
	}
	p, had := c.prev, c.have
	c.prev, c.have = r, true
	if !had || r.watts == p.watts || !r.end.After(p.end) {
		return
	}
	// The value changed after p's read began and before r's ended.
	lo, hi := p.start, r.end
	if hi.Sub(lo) >= c.period {
		return // as wide as a period: says nothing of the phase
	}
	if c.known && r.end.Sub(c.confirmed) <= trustPeriods*c.period {
		k := roundDiv(mid(lo, hi).Sub(mid(c.lo, c.hi)), c.period)
		ilo, ihi := c.lo.Add(k*c.period), c.hi.Add(k*c.period)
		if lo.After(ilo) {
			ilo = lo
		}
		if hi.Before(ihi) {
			ihi = hi
		}
		if ilo.Before(ihi) {
			lo, hi = ilo, ihi
		}
		// Else the BMC's phase moved (it restarted, or drifted): start
		// over from this read.
	}
	c.lo, c.hi, c.known, c.confirmed = lo, hi, true, r.end
}

// published returns the latest publication at or before at that the
// learnt phase implies.
func (c *readingClock) published(at time.Time) (time.Time, bool) {
	if !c.known || c.period <= 0 || at.Sub(c.confirmed) > trustPeriods*c.period {
		return time.Time{}, false
	}
	u := mid(c.lo, c.hi)
	k := floorDiv(at.Sub(u), c.period)
	return u.Add(k * c.period), true
}

func mid(a, b time.Time) time.Time { return a.Add(b.Sub(a) / 2) }

// floorDiv is ⌊d/p⌋ for p > 0, also for negative d.
func floorDiv(d, p time.Duration) time.Duration {
	k := d / p
	if d%p < 0 {
		k--
	}
	return k
}

// roundDiv is d/p rounded to the nearest whole number, for p > 0.
func roundDiv(d, p time.Duration) time.Duration { return floorDiv(d+p/2, p) }
