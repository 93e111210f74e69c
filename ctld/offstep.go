package ctld

// The step at a power-off, placed between when it was asked for and when
// it was confirmed, and rebuilt from the BMC readings around it.

import (
	"math"
	"time"

	"github.com/bmc-sched/bmc/accounting"
)

// offStep is a recording's state from the moment its power-off is asked
// for (offAsked) until the step is recorded.
type offStep struct {
	// The machine went off in [lo, hi]: lo is when the power-off was
	// first asked for (in-band or from the BMC), hi when the BMC confirmed
	// it off (sampleFinal); hi is zero until then.
	lo, hi time.Time
	window time.Duration // the BMC's averaging window
	// held are the readings whose window ends after lo, held back until
	// the first reading wholly after hi.
	held []accounting.Sample
	done bool // the step is recorded
}

// pendingOffStep returns r's step that is not recorded yet, opened with
// the power-off asked for at at when there is none: the first request (in
// band, then from the BMC) bounds the off.
func (r *recording) pendingOffStep(at time.Time, window time.Duration) *offStep {
	if r.offStep == nil || r.offStep.done {
		r.offStep = &offStep{lo: at, window: window}
	}
	return r.offStep
}

// offStepSliver is how long after the power-off the post-off draw starts
// in the rebuilt step: the readings' times must increase.
const offStepSliver = time.Millisecond

// offStepLocked takes a reading of r after its power-off was asked for and
// returns what to record in its place. A BMC shows the mean over its
// window, and the trapezoid through such means spreads the drop at the
// power-off over a second or more on either side of it: in the lab that
// booked 15-25 J of a job's running draw after its end as standby, and
// billed its last moment low. And when readings are missing around the
// off (ipmitool calls of over a second on a loaded host) the trapezoid
// spans the gap: a busy job lost 97 J (−4.4 %) to a straight line from
// 100 W, 2.4 s before the off, down to the first 8 W reading after it.
//
// The power-off is a step, somewhere between lo and hi: the confirmation
// can come seconds after the machine went off (an in-band power-off, a
// BMC's poll). Readings whose window ends after lo are held back until S,
// the first whose window lies wholly after hi; then offStepAt places the
// step and the recording gets the held readings that lie wholly on
// either side of it, the step, and S. Without a reading before the
// request they are recorded as they came; when no S comes, the last held
// reading stands for it (settleOffStepLocked); when the power-off fails,
// they are recorded as they came (releaseOffStepLocked). Called with
// c.en.mu held.
func offStepLocked(r *recording, s accounting.Sample) []accounting.Sample {
	st := r.offStep
	if st == nil || st.done || st.window <= 0 || s.Counter {
		return []accounting.Sample{s}
	}
	half := st.window / 2
	n := len(r.samples)
	if n == 0 || r.samples[n-1].Counter || !s.Time.After(st.lo.Add(-half)) {
		return []accounting.Sample{s} // nothing before the off, or s is wholly before it
	}
	if st.hi.IsZero() || s.Time.Before(st.hi.Add(half)) {
		st.held = append(st.held, s)
		return nil
	}
	st.done = true
	out := offStepAt(st.lo, st.hi, st.window, r.samples[n-1], st.held, s)
	st.held = nil
	return out
}

// offStepLocate is how far apart, at least, the draws before and after a
// power-off must be for a reading to say where the off lies: a few of a
// BMC sensor's 4 W steps.
const offStepLocate = 10.0

// offStepAt rebuilds the power-off in [lo, hi] from prev (the last reading
// recorded, wholly before lo), the held readings and after (the first
// reading wholly after hi), with the off where placeOff puts it. The
// recording gets the readings wholly before the off, the draw before it
// held up to it (or, where a reading's window holds it, the draw that
// reading implies: stepAt), then the draw after it from just after it,
// the readings wholly after it and after. A reading that repeats the one
// before it once the off shows is a value the BMC held, not news
// (nodeMeter.heldRepeat).
func offStepAt(lo, hi time.Time, window time.Duration, prev accounting.Sample, held []accounting.Sample, after accounting.Sample) []accounting.Sample {
	half := window / 2
	off := placeOff(lo, hi, window, prev, held, after)

	// The readings wholly after the off, without the values the BMC held.
	var afters []accounting.Sample
	for i, x := range held {
		if !x.Time.Add(-half).Before(off) && (i == 0 || x.Watts != held[i-1].Watts) {
			afters = append(afters, x)
		}
	}
	first := after
	if len(afters) > 0 {
		first = afters[0]
	}

	var out []accounting.Sample
	last := prev
	add := func(x accounting.Sample) {
		if x.Time.After(last.Time) {
			out, last = append(out, x), x
		}
	}
	var straddle *accounting.Sample
	for i, x := range held {
		switch {
		case !x.Time.Add(half).After(off):
			add(x)
		case x.Time.Add(-half).Before(off) && straddle == nil:
			straddle = &held[i]
		}
	}
	if straddle != nil {
		for _, x := range stepAt(off, window, last, *straddle, first) {
			add(x)
		}
	} else {
		add(accounting.Sample{Time: off, Watts: last.Watts})
	}
	add(accounting.Sample{Time: off.Add(offStepSliver), Watts: first.Watts})
	for _, x := range afters {
		add(x)
	}
	add(after)
	return out
}

// placeOff places the power-off in [lo, hi]. With P the draw before the
// off (prev's) and Q after's, a held reading near P lies wholly before the
// off, one near Q wholly after it, and one in between holds the off at the
// fraction (x-Q)/(P-Q) of its window: the readings narrow [lo, hi] and
// place the off, or it is taken at the middle of what is left.
func placeOff(lo, hi time.Time, window time.Duration, prev accounting.Sample, held []accounting.Sample, after accounting.Sample) time.Time {
	half := window / 2
	p, q := prev.Watts, after.Watts
	a := lo
	b := maxTime(a, minTime(hi, after.Time.Add(-half)))
	for _, x := range held {
		if math.Abs(p-q) < offStepLocate {
			break
		}
		f := (x.Watts - q) / (p - q)
		xs, xe := x.Time.Add(-half), x.Time.Add(half)
		switch {
		case f >= 0.9 && !xe.After(b):
			a, p = maxTime(a, xe), x.Watts
			continue
		case f <= 0.1 && !xs.Before(a):
			b = xs
		default:
			return maxTime(a, minTime(b, xs.Add(time.Duration(f*float64(window)))))
		}
		break
	}
	return a.Add(b.Sub(a) / 2)
}

// stepAt is the draw up to off implied by reading x, the mean over its
// window (window long, centred on x.Time) which holds off, and after, the
// first reading wholly after off: flat from the window's start to off.
// When off lies in the window's first quarter, the part before is too
// short to measure a draw from the reading (its 4 W steps and noise would
// count four times over): the draw of prev, the reading before x, then
// holds up to off.
func stepAt(off time.Time, window time.Duration, prev, x, after accounting.Sample) []accounting.Sample {
	start := x.Time.Add(-window / 2)
	before := off.Sub(start).Seconds()
	rest := window.Seconds() - before
	if before < window.Seconds()/4 {
		return []accounting.Sample{{Time: off, Watts: prev.Watts}}
	}
	w := max((x.Watts*window.Seconds()-after.Watts*rest)/before, 0)
	out := []accounting.Sample{{Time: off, Watts: w}}
	if start.After(prev.Time) {
		out = append([]accounting.Sample{{Time: start, Watts: w}}, out...)
	}
	return out
}

// settleOffStepLocked completes r's step once its power-off is confirmed
// and read past, when no reading wholly after the confirmation came. A
// reading that repeats the one before it is skipped for a while after the
// off (nodeMeter.heldRepeat), so a steady draw after it shows as one
// reading: the last held, which then serves as the reading after the
// off. Called with c.en.mu held.
func (c *Controller) settleOffStepLocked(r *recording) {
	st := r.offStep
	n, k := len(r.samples), 0
	if st != nil {
		k = len(st.held)
	}
	if st == nil || st.done || st.hi.IsZero() || k == 0 || n == 0 || r.samples[n-1].Counter {
		c.releaseOffStepLocked(r)
		return
	}
	out := offStepAt(st.lo, st.hi, st.window, r.samples[n-1], st.held[:k-1], st.held[k-1])
	st.held, st.done = nil, true
	for _, s := range out {
		c.addReadingLocked(r, s)
	}
}

// releaseOffStepLocked records the readings r held at its power-off, if
// no reading after the off came to complete the step. Called with
// c.en.mu held.
func (c *Controller) releaseOffStepLocked(r *recording) {
	if r.offStep == nil {
		return
	}
	held := r.offStep.held
	r.offStep.held, r.offStep.done = nil, true
	for _, s := range held {
		c.addReadingLocked(r, s)
	}
}
