package accounting

import "math"

// BridgeLoss is the energy, in joules, that would be misbooked if only the
// first and last of samples were kept and the rest lost: the trapezoid
// of the readings against the straight line from the first to the last;
// bridged is what that line books (watts readings; 0 for counters).
// A store that loses unwritten readings in a crash bridges them this way,
// so this is what a crash now would cost the bill; a controller writes
// readings early once it grows. Counter readings bridge exactly (the
// counter carries the energy across), unless the counter wrapped, reset
// or ran backwards in between: then the loss is unknown and +Inf, as it
// is for readings of mixed kinds. samples must be in time order.
func BridgeLoss(samples []Sample) (loss, bridged float64) {
	n := len(samples)
	if n < 2 {
		return 0, 0
	}
	counter := samples[0].Counter
	for i := 1; i < n; i++ {
		if samples[i].Counter != counter {
			return math.Inf(1), 0
		}
		if counter && samples[i].Joules < samples[i-1].Joules {
			return math.Inf(1), 0
		}
	}
	if counter {
		return 0, 0
	}
	var trap float64
	for i := 1; i < n; i++ {
		a, b := samples[i-1], samples[i]
		trap += (a.Watts + b.Watts) / 2 * b.Time.Sub(a.Time).Seconds()
	}
	a, b := samples[0], samples[n-1]
	line := (a.Watts + b.Watts) / 2 * b.Time.Sub(a.Time).Seconds()
	return math.Abs(trap - line), line
}
