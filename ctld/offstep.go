package ctld

// The step at a confirmed power-off, rebuilt from the BMC reading whose
// window straddles it.

import (
	"time"

	"github.com/bmc-sched/bmc/accounting"
)

// offStep is a recording's state at its confirmed power-off (sampleFinal):
// the instant and the BMC's averaging window.
type offStep struct {
	at     time.Time
	window time.Duration
	// straddles are the readings whose window holds the off, held back
	// until the first reading after it.
	straddles []accounting.Sample
	done      bool // the step is recorded
}

// offStepSliver is how long after the power-off the post-off draw starts
// in the rebuilt step: the readings' times must increase.
const offStepSliver = time.Millisecond

// offStepLocked takes a reading of r after its power-off and returns what
// to record in its place. A BMC shows the mean over its window, and the
// trapezoid through such means spreads the drop at the power-off over a
// second or more on either side of it: in the lab that booked 15-25 J of
// a job's running draw after its end as standby, and billed its last
// moment low, even when no window held the off. The power-off is a step at
// a known instant, so at the first reading whose window lies wholly after
// it (S) the recording gets that step: the draw before the off held up to
// it, then S's draw from just after it. Readings whose window holds the
// off are held back until S and replaced by the step the first of them
// implies: of its energy (watts × window), S's draw fills the part after
// the off and the rest is the part before, a mean draw from its window's
// start to the off. Without a reading before the off, or none after it,
// the readings are recorded as they came. Called with c.en.mu held.
func offStepLocked(r *recording, s accounting.Sample) []accounting.Sample {
	st := r.offStep
	if st == nil || st.done || st.window <= 0 || s.Counter {
		return []accounting.Sample{s}
	}
	half := st.window / 2
	n := len(r.samples)
	if n == 0 || r.samples[n-1].Counter || !s.Time.After(st.at.Add(-half)) {
		return []accounting.Sample{s} // nothing before the off, or s is wholly before it
	}
	if s.Time.Before(st.at.Add(half)) {
		st.straddles = append(st.straddles, s)
		return nil
	}
	st.done = true
	prev := r.samples[n-1]
	var out []accounting.Sample
	if len(st.straddles) > 0 {
		out = stepAt(st.at, st.window, prev, st.straddles[0], s)
		st.straddles = nil
	} else {
		out = []accounting.Sample{{Time: st.at, Watts: prev.Watts}}
	}
	if sliver := st.at.Add(offStepSliver); s.Time.After(sliver) {
		out = append(out, accounting.Sample{Time: sliver, Watts: s.Watts})
	}
	return append(out, s)
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

// releaseOffStepLocked records the readings r held at its power-off, if
// no reading after the off came to complete the step. Called with
// c.en.mu held.
func (c *Controller) releaseOffStepLocked(r *recording) {
	if r.offStep == nil {
		return
	}
	held := r.offStep.straddles
	r.offStep.straddles, r.offStep.done = nil, true
	for _, s := range held {
		c.addReadingLocked(r, s)
	}
}
