package accounting

import (
	"math"
	"time"
)

// Decayed is a running total that halves every half-life, like the usage
// Slurm's fair share weighs: energy used a half-life ago counts half.
// Keeping the value and when it was last brought up to date is enough to
// add to it and read it at any later time.
type Decayed struct {
	Value float64
	At    time.Time
}

// ValueAt is d's value at now (never more than d.Value: time before At
// does not add back).
func (d Decayed) ValueAt(now time.Time, halfLife time.Duration) float64 {
	if halfLife <= 0 || !now.After(d.At) {
		return d.Value
	}
	return d.Value * math.Exp2(-now.Sub(d.At).Seconds()/halfLife.Seconds())
}

// Add returns d with v added as used at at. Usage reported late (at before
// d.At) is decayed by its own age and added.
func (d Decayed) Add(v float64, at time.Time, halfLife time.Duration) Decayed {
	if d.At.IsZero() || at.After(d.At) {
		return Decayed{Value: d.ValueAt(at, halfLife) + v, At: at}
	}
	return Decayed{Value: d.Value + Decayed{Value: v, At: at}.ValueAt(d.At, halfLife), At: d.At}
}
