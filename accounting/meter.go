package accounting

import (
	"fmt"
	"time"
)

// The meters a bill can come from, as every ledger entry names them.
const (
	MeterSDR            = "bmc-sdr"         // an IPMI SDR power sensor (watts)
	MeterDCMI           = "dcmi"            // IPMI DCMI power reading (watts)
	MeterRedfishCounter = "redfish-counter" // Redfish EnergykWh, a cumulative counter
	MeterRedfishWatts   = "redfish-watts"   // Redfish PowerWatts
	MeterRAPL           = "rapl-inband"     // the node agent's RAPL counter: CPU package only, self-reported
	MeterModel          = "model"           // the simulator's power model
)

// frozenAfter is how long an in-band counter may stand still before it is
// implausible: a powered CPU package always draws a few watts, and RAPL
// counts in microjoules, so a real counter moves at every read.
const frozenAfter = 3 * time.Second

// CounterImplausible says why counter readings in [from, to] cannot be a
// real energy counter: it stood still for frozenAfter or more while the
// machine was on, or it went back although it does not wrap (counterMax 0).
// It returns "" when they are plausible (or too few to tell).
func CounterImplausible(s []Sample, from, to time.Time, counterMax float64) string {
	var prev *Sample
	var still time.Time
	for i := range s {
		x := &s[i]
		if !x.Counter || x.Time.Before(from) || x.Time.After(to) {
			continue
		}
		if prev != nil {
			switch {
			case x.Joules < prev.Joules && counterMax == 0:
				return fmt.Sprintf("counter went back from %.3f J to %.3f J at %s and does not wrap", prev.Joules, x.Joules, stamp(x.Time))
			case x.Joules == prev.Joules:
				if still.IsZero() {
					still = prev.Time
				}
				if x.Time.Sub(still) >= frozenAfter {
					return fmt.Sprintf("counter stood still at %.3f J from %s to %s while the machine was on", x.Joules, stamp(still), stamp(x.Time))
				}
			default:
				still = time.Time{}
			}
		}
		prev = x
	}
	return ""
}

// floor bills a self-reported entry at least the kind's idle floor over
// its phase, and an implausible one from the floor alone. It returns the
// readings to price the entry with: the floor's when it was applied.
func floor(e *Entry, u BootUsage) []Sample {
	e.SelfReported = true
	e.FloorJoules = u.FloorWatts * e.Duration
	if u.FloorWatts <= 0 {
		e.Reasons = append(e.Reasons, "self-reported in-band energy; no idle floor known for this kind to bound it")
		return u.Samples
	}
	why := CounterImplausible(u.Samples, e.Start, e.End, u.Options.CounterMax)
	switch {
	case why != "":
		e.Implausible = true
		e.Reasons = append(e.Reasons, fmt.Sprintf("implausible in-band counter (%s): billed the idle floor %.0f W × %.1f s", why, u.FloorWatts, e.Duration))
	case e.Joules < e.FloorJoules:
		e.Reasons = append(e.Reasons, fmt.Sprintf("self-reported %.1f J is below the idle floor %.0f W × %.1f s: billed the floor", e.Joules, u.FloorWatts, e.Duration))
	default:
		return u.Samples
	}
	e.Joules, e.Estimated = e.FloorJoules, true
	return []Sample{{Time: e.Start, Watts: u.FloorWatts}, {Time: e.End, Watts: u.FloorWatts}}
}
