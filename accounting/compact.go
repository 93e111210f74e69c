package accounting

import "math"

// Compact drops the readings that lie exactly on the straight line between
// their neighbours, of the same kind: the trapezoid of watts and the
// interpolated counter are the same with or without them, so every window's
// energy (Integrate) is unchanged. A machine at a steady draw keeps two
// readings per steady stretch. Readings at a counter's wrap or reset, gaps
// and changes of kind are kept, and so is a reading every opt's gap limit,
// so a recomputed bill finds no gap the raw readings did not have. samples
// must be in time order.
func Compact(samples []Sample, opt Options) []Sample {
	if len(samples) < 3 {
		return append([]Sample(nil), samples...)
	}
	opt, err := opt.normalized()
	if err != nil {
		return append([]Sample(nil), samples...)
	}
	out := []Sample{samples[0]}
	for i := 1; i < len(samples)-1; i++ {
		a, b, c := out[len(out)-1], samples[i], samples[i+1]
		if c.Time.Sub(a.Time) > opt.gapLimit() || !(a.Counter == b.Counter && b.Counter == c.Counter && onLine(a, b, c)) {
			out = append(out, b)
		}
	}
	return append(out, samples[len(samples)-1])
}

// onLine reports whether b is where the line from a to c is at b's time,
// both in watts and (for counters) in joules, within rounding.
func onLine(a, b, c Sample) bool {
	span := c.Time.Sub(a.Time).Seconds()
	if span <= 0 {
		return false
	}
	f := b.Time.Sub(a.Time).Seconds() / span
	near := func(x, y, z float64) bool {
		want := x + (z-x)*f
		return math.Abs(y-want) <= 1e-9*max(1, math.Abs(want))
	}
	if !near(a.Watts, b.Watts, c.Watts) {
		return false
	}
	// A counter must also be monotonic across b: a wrap or reset between
	// a and c is never on a line.
	return !b.Counter || (a.Joules <= b.Joules && b.Joules <= c.Joules && near(a.Joules, b.Joules, c.Joules))
}
