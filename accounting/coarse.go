package accounting

import "math"

// coarseCounterShare is how large a counter's step may be, as a share of the
// energy it measures over a window, before watts are integrated instead: a
// counter read at both ends of a window is off by up to one step.
const coarseCounterShare = 0.005

// coarseStep infers the step of a counter whose readings also carry watts
// (a Redfish BMC gives EnergykWh and PowerWatts together): if the counter
// stood still between two readings while the machine drew power, it moves
// in steps — of its resolution, or of its own update period — at least as
// large as the smallest increment it showed. ok is false when the counter
// never stood still (a fine counter) or the readings carry no watts.
func coarseStep(s []Sample, modulus float64) (step float64, ok bool) {
	still := false
	step = math.Inf(1)
	for i := 1; i < len(s); i++ {
		a, b := s[i-1], s[i]
		if !a.Counter || !b.Counter || !(a.Watts > 0 && b.Watts > 0) || !b.Time.After(a.Time) {
			continue
		}
		inc, kind := counterIncrement(a.Joules, b.Joules, modulus)
		switch {
		case kind != stepNormal:
			continue
		case inc == 0:
			still = true
		default:
			step = math.Min(step, inc)
		}
	}
	if !still || math.IsInf(step, 1) {
		return 0, false
	}
	return step, true
}

// dualReadings reports whether every reading is a counter reading that also
// carries watts, so either can be integrated.
func dualReadings(s []Sample) bool {
	for i := range s {
		if !s[i].Counter || !(s[i].Watts > 0) {
			return false
		}
	}
	return len(s) > 0
}
