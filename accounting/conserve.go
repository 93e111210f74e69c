package accounting

import (
	"fmt"
	"slices"
	"time"
)

// Why energy metered on a node was billed to no job. The strings are the
// contract between the controller's parts (and what bmcq shows).
const (
	ReasonIdleOn         = "idle-on"          // on between jobs, or kept warm
	ReasonPowerOffFailed = "power-off-failed" // on because switching it off failed
	ReasonPowerOnFailed  = "power-on-failed"  // the power-on failed but the machine came on
	ReasonAbortedBoot    = "aborted-boot"     // a boot aborted by a security event
	ReasonControllerDown = "controller-down"  // bmcctld was not running
	ReasonReuseGap       = "reuse-gap"        // kept on between two jobs of one user
	// ReasonStandby is the draw of a machine that is off (BMC and PSU). It
	// is shown apart from the unbilled reasons, as standby.
	ReasonStandby = "standby"
	// Credited boots of a job whose failure was the node's or the
	// controller's (see FailurePolicy.Credit).
	ReasonNodeFail = "node-fail"
	ReasonBootFail = "boot-fail"
)

// Stretch is a run of a node's metered energy billed to no job, with why.
type Stretch struct {
	Node       string
	Start, End time.Time
	Reason     string
	Joules     float64
	Meter      string
	Samples    int
	Estimated  bool
	Note       string
}

// Between is the energy a meter counted from reading a to reading b: the
// counter's difference when both carry a counter that did not go back,
// else the trapezoid of their watts, which is then an estimate when the
// readings are further apart than gap.
func Between(a, b Sample, gap time.Duration) (joules float64, estimated bool) {
	dt := b.Time.Sub(a.Time).Seconds()
	if dt <= 0 {
		return 0, false
	}
	if a.Counter && b.Counter && b.Joules >= a.Joules {
		return b.Joules - a.Joules, false
	}
	return (a.Watts + b.Watts) / 2 * dt, b.Time.Sub(a.Time) > gap
}

// Balance is one node's energy over a period: what its meter counted, and
// where each joule went. Metered = Billed + sum(Unbilled) + Standby, up to
// the meters' own rounding (Residual says by how much it is off).
type Balance struct {
	Node      string
	From, To  time.Time
	Meter     string
	Metered   float64
	Billed    float64
	Unbilled  map[string]float64 // by reason
	Standby   float64
	Estimated bool
	Residual  float64 // Metered - Billed - Unbilled - Standby
}

// UnbilledTotal is the sum over the unbilled reasons.
func (b Balance) UnbilledTotal() float64 {
	var t float64
	for _, v := range b.Unbilled {
		t += v
	}
	return t
}

// MeterPoint is a node's metered total at a time.
type MeterPoint struct {
	Time   time.Time
	Joules float64
}

// MeteredBetween is the energy a node's meter counted in [from, to) from its
// running totals (in time order), interpolated linearly between points and
// held flat outside them.
func MeteredBetween(pts []MeterPoint, from, to time.Time) float64 {
	return totalAt(pts, to) - totalAt(pts, from)
}

func totalAt(pts []MeterPoint, t time.Time) float64 {
	i, _ := slices.BinarySearchFunc(pts, t, func(p MeterPoint, t time.Time) int { return p.Time.Compare(t) })
	switch {
	case len(pts) == 0:
		return 0
	case i == 0:
		return pts[0].Joules
	case i == len(pts):
		return pts[len(pts)-1].Joules
	}
	a, b := pts[i-1], pts[i]
	span := b.Time.Sub(a.Time).Seconds()
	if span <= 0 {
		return b.Joules
	}
	return a.Joules + (b.Joules-a.Joules)*t.Sub(a.Time).Seconds()/span
}

// Overlap is the part of [start, end) inside [from, to), as a fraction; a
// zero-length stretch counts whole when it lies inside.
func Overlap(start, end, from, to time.Time) float64 {
	if !end.After(start) {
		if !start.Before(from) && start.Before(to) {
			return 1
		}
		return 0
	}
	lo, hi := maxTime(start, from), minTime(end, to)
	if !hi.After(lo) {
		return 0
	}
	return hi.Sub(lo).Seconds() / end.Sub(start).Seconds()
}

// BuildBalance sums one node's ledger entries and unbilled stretches over
// [from, to) against what its meter counted. Entries and stretches that
// cross an edge count pro rata by time. A credited entry (the cluster pays
// for the failure) counts as unbilled under its credit reason.
func BuildBalance(node string, from, to time.Time, entries []Entry, stretches []Stretch, pts []MeterPoint) Balance {
	b := Balance{Node: node, From: from, To: to, Unbilled: map[string]float64{}, Metered: MeteredBetween(pts, from, to)}
	for i := range entries {
		e := &entries[i]
		if e.Node != node || e.SelfReported {
			// In-band energy is not the meter's: it is billed, but it
			// cannot balance a whole-machine meter.
			continue
		}
		j := e.Joules * Overlap(e.Start, e.End, from, to)
		if e.Credited {
			b.Unbilled[e.CreditReason] += j
		} else {
			b.Billed += j
		}
		b.Estimated = b.Estimated || e.Estimated
		if b.Meter == "" {
			b.Meter = e.Meter
		}
	}
	for _, s := range stretches {
		if s.Node != node {
			continue
		}
		j := s.Joules * Overlap(s.Start, s.End, from, to)
		if s.Reason == ReasonStandby {
			b.Standby += j
		} else if j > 0 || s.Reason != "" {
			b.Unbilled[s.Reason] += j
		}
		b.Estimated = b.Estimated || s.Estimated
		if s.Meter != "" {
			b.Meter = s.Meter
		}
	}
	b.Residual = b.Metered - b.Billed - b.UnbilledTotal() - b.Standby
	return b
}

// String is the balance in one line, for logs and test failures.
func (b Balance) String() string {
	return fmt.Sprintf("%s: metered %.1f J = billed %.1f + unbilled %.1f %v + standby %.1f (residual %.1f)",
		b.Node, b.Metered, b.Billed, b.UnbilledTotal(), b.Unbilled, b.Standby, b.Residual)
}
