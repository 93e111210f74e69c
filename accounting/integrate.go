package accounting

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// Integrate returns the energy used between from and to.
//
// samples must be ordered by time. When the readings in and next to the
// window are of both kinds, the kind that measures more of the window wins,
// the counter on a tie: a counter's difference is exact however sparse the
// readings, while watts are only as good as the sampling. Watts are
// integrated with the trapezoid rule over the linear interpolation between
// readings, so a window edge between two readings takes the interpolated
// value. Before the first and after the last reading the nearest power is
// held.
//
// When every reading carries both a counter and watts, the counter is used
// unless it is coarse for the window: it stood still between readings while
// the machine drew power, and its smallest step is more than 0.5 % of the
// window's energy. Result.Method says which was used.
//
// Nothing unmeasured is silently zero: gaps longer than
// opt.MaxGapIntervals×opt.Interval are bridged by linear interpolation,
// counter resets start over from the new value, and both set Estimated with
// a reason.
func Integrate(samples []Sample, from, to time.Time, opt Options) (Result, error) {
	opt, err := opt.normalized()
	if err != nil {
		return Result{}, err
	}
	if to.Before(from) {
		return Result{}, fmt.Errorf("%w: ends at %s before it starts at %s", ErrWindow, stamp(to), stamp(from))
	}
	// Readings inside the window are [lo, hi); two more on each side
	// bracket the edges, two so that a counter outside its readings still
	// has a rate to extend.
	lo := sort.Search(len(samples), func(i int) bool { return !samples[i].Time.Before(from) })
	hi := sort.Search(len(samples), func(i int) bool { return samples[i].Time.After(to) })
	if hi < lo { // only possible when the input is not sorted
		hi = lo
	}
	a, b := max(lo-2, 0), min(hi+2, len(samples))
	near := samples[a:b]
	if err := checkSamples(near); err != nil {
		return Result{}, err
	}
	counters := 0
	for i := range near {
		if near[i].Counter {
			counters++
		}
	}
	switch {
	case counters == 0:
		// One kind of reading around the window (the usual case): use the
		// slice as is, without copying.
		return integrateSeries(near, false, from, to, opt), nil
	case counters == len(near):
		r := integrateSeries(near, true, from, to, opt)
		// A counter whose step is coarse for this window (a BMC counter
		// in Wh steps, or one that moves once a second, over a short job)
		// is less exact than the watts read with it: use those.
		if dualReadings(near) {
			if step, ok := coarseStep(near, opt.CounterMax); ok && step > coarseCounterShare*r.Joules {
				return integrateSeries(near, false, from, to, opt), nil
			}
		}
		return r, nil
	}
	cs := series(samples, lo, hi, true)
	ws := series(samples, lo, hi, false)
	if err := checkSamples(cs); err != nil {
		return Result{}, err
	}
	if err := checkSamples(ws); err != nil {
		return Result{}, err
	}
	cr := integrateSeries(cs, true, from, to, opt)
	wr := integrateSeries(ws, false, from, to, opt)
	if len(cs) >= 2 && cr.Coverage >= wr.Coverage {
		return cr, nil
	}
	return wr, nil
}

// series copies the readings of one kind that lie in [lo, hi) plus the
// nearest two of that kind on each side.
func series(s []Sample, lo, hi int, counter bool) []Sample {
	var before []Sample
	for i := lo - 1; i >= 0 && len(before) < 2; i-- {
		if s[i].Counter == counter {
			before = append(before, s[i])
		}
	}
	slices.Reverse(before)
	out := before
	for i := lo; i < hi; i++ {
		if s[i].Counter == counter {
			out = append(out, s[i])
		}
	}
	after := 0
	for i := hi; i < len(s) && after < 2; i++ {
		if s[i].Counter == counter {
			out = append(out, s[i])
			after++
		}
	}
	return out
}

// maxDetailedReasons bounds Result.Reasons for traces with many gaps; the
// rest are counted in one summary line.
const maxDetailedReasons = 8

type notes struct {
	list []string
	more int
}

func (n *notes) add(format string, args ...any) {
	if len(n.list) >= maxDetailedReasons {
		n.more++
		return
	}
	n.list = append(n.list, fmt.Sprintf(format, args...))
}

func (n *notes) done() []string {
	if n.more > 0 {
		n.list = append(n.list, fmt.Sprintf("and %d more irregularities like the above", n.more))
	}
	return n.list
}

// counterStep is the energy a counter reports between two readings.
type counterStep int

const (
	stepNormal    counterStep = iota
	stepWrap                  // passed CounterMax and started again from 0
	stepReset                 // fell to near zero: the machine (or BMC) restarted it
	stepBackwards             // fell a little: a glitch, not a restart
)

// counterIncrement returns the joules between two consecutive counter
// values. A drop of more than half the modulus is a wrap: with the usual
// sampling a counter never advances by half its range between readings. A
// drop to below half the previous value is a reset, and the energy counted
// since the reset is the new value (what came before it in that interval is
// lost). Any other drop is a glitch and counts as nothing.
func counterIncrement(prev, cur, modulus float64) (float64, counterStep) {
	d := cur - prev
	switch {
	case d >= 0:
		return d, stepNormal
	case modulus > 0 && -d > modulus/2:
		return d + modulus, stepWrap
	case cur < prev/2:
		return cur, stepReset
	default:
		return 0, stepBackwards
	}
}

// integrateSeries integrates readings of one kind, ordered in time, over
// [from, to]. s may extend beyond the window.
func integrateSeries(s []Sample, counter bool, from, to time.Time, opt Options) Result {
	r := Result{Method: MethodWatts}
	if counter {
		r.Method = MethodCounter
	}
	lo := sort.Search(len(s), func(i int) bool { return !s[i].Time.Before(from) })
	hi := sort.Search(len(s), func(i int) bool { return s[i].Time.After(to) })
	r.Samples = max(hi-lo, 0)
	if !to.After(from) {
		r.Coverage = 1
		return r
	}
	var why notes
	n := len(s)
	if n == 0 {
		r.Method = MethodNone
		r.Estimated = true
		r.Reasons = []string{"no power samples"}
		return r
	}
	if counter && n == 1 {
		r.Estimated = true
		r.Reasons = []string{fmt.Sprintf("only one energy-counter reading (at %s); its rate is unknown, counted 0 J", stamp(s[0].Time))}
		return r
	}
	limit := opt.gapLimit()
	// Positions are seconds from the window start, so the partial sums stay
	// small and precise.
	W := to.Sub(from).Seconds()
	x := func(t time.Time) float64 { return t.Sub(from).Seconds() }
	var energy, covered float64

	// rate is the power used to extend beyond the first or last reading.
	edgeRate := func(first bool) float64 {
		if !counter {
			if first {
				return s[0].Watts
			}
			return s[n-1].Watts
		}
		step := func(i int) (float64, bool) {
			dt := s[i+1].Time.Sub(s[i].Time).Seconds()
			if dt <= 0 {
				return 0, false
			}
			inc, _ := counterIncrement(s[i].Joules, s[i+1].Joules, opt.CounterMax)
			return inc / dt, true
		}
		if first {
			for i := 0; i+1 < n; i++ {
				if p, ok := step(i); ok {
					return p
				}
			}
		} else {
			for i := n - 2; i >= 0; i-- {
				if p, ok := step(i); ok {
					return p
				}
			}
		}
		return 0
	}

	// Before the first reading.
	if x0 := x(s[0].Time); x0 > 0 {
		ext := min(x0, W)
		p := edgeRate(true)
		energy += p * ext
		if s[0].Time.Sub(from) > limit {
			why.add("no power samples in the first %.1fs of the window from %s (limit %s); held the power of the first reading (%.1f W)", ext, stamp(from), limit, p)
		} else {
			covered += ext
		}
	}

	// Between readings. Start at the last reading at or before from.
	start := max(lo-1, 0)
	span := to.Sub(from)
	// Offsets from the window start as durations: exact integers, so that a
	// gap of exactly the limit is not flagged by rounding.
	db := s[start].Time.Sub(from)
	xb := db.Seconds()
	for i := start; i+1 < n; i++ {
		da, xa := db, xb
		db = s[i+1].Time.Sub(from)
		xb = db.Seconds()
		if db == da && counter && da > 0 && da <= span {
			// Two counter readings at one instant still differ by energy
			// that was used; it belongs to the window holding the instant
			// (on a boundary, the window that ends there, so that windows add up).
			inc, _ := counterIncrement(s[i].Joules, s[i+1].Joules, opt.CounterMax)
			energy += inc
			continue
		}
		if da >= span {
			break
		}
		if db <= da || db <= 0 {
			continue
		}
		ta := s[i].Time
		dt := xb - xa
		ca, cb := max(xa, 0), min(xb, W)
		inside := da >= 0 && db <= span
		gap := db-da > limit
		if counter {
			inc, kind := counterIncrement(s[i].Joules, s[i+1].Joules, opt.CounterMax)
			if inside {
				energy += inc
			} else {
				energy += inc * (cb - ca) / dt
			}
			switch kind {
			case stepReset:
				why.add("energy counter reset at %s (from %.1f J to %.1f J; machine restarted?); counted %.1f J since the reset, energy before it in that %.1fs interval unknown",
					stamp(s[i+1].Time), s[i].Joules, s[i+1].Joules, s[i+1].Joules, dt)
			case stepBackwards:
				why.add("energy counter went backwards at %s (from %.1f J to %.1f J); counted 0 J for that %.1fs interval",
					stamp(s[i+1].Time), s[i].Joules, s[i+1].Joules, dt)
			}
			// A counter measures a gap exactly; only splitting it at a
			// window edge is a guess.
			if gap && !inside {
				why.add("window edge falls in a gap of %.1fs between energy-counter readings at %s (limit %s); split by linear interpolation", dt, stamp(ta), limit)
			} else {
				covered += cb - ca
			}
			continue
		}
		wa, wb := s[i].Watts, s[i+1].Watts
		if inside {
			energy += (wa + wb) / 2 * dt
		} else {
			slope := (wb - wa) / dt
			pa := wa + slope*(ca-xa)
			pb := wa + slope*(cb-xa)
			energy += (pa + pb) / 2 * (cb - ca)
		}
		if gap {
			why.add("gap of %.1fs in power samples at %s (limit %s); bridged by linear interpolation from %.1f W to %.1f W", dt, stamp(ta), limit, wa, wb)
		} else {
			covered += cb - ca
		}
	}

	// After the last reading.
	if xn := x(s[n-1].Time); xn < W {
		ext := W - max(xn, 0)
		p := edgeRate(false)
		energy += p * ext
		if to.Sub(s[n-1].Time) > limit {
			why.add("no power samples in the last %.1fs of the window up to %s (limit %s); held the power of the last reading (%.1f W)", ext, stamp(to), limit, p)
		} else {
			covered += ext
		}
	}

	r.Joules = energy
	r.Coverage = min(covered/W, 1)
	r.Reasons = why.done()
	r.Estimated = len(r.Reasons) > 0
	if r.Estimated && r.Samples == 0 {
		r.Reasons = append([]string{"no power samples in the window; estimated from the nearest readings"}, r.Reasons...)
	}
	return r
}
