package accounting

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Sample is one power reading. Counter readings carry a cumulative energy
// counter in joules (Joules valid, Counter true; e.g. Redfish EnergykWh×JoulesPerKWh,
// RAPL energy_uj/1e6); the others carry instantaneous watts (IPMI DCMI,
// an SDR sensor, Redfish PowerConsumedWatts).
//
// It has the same fields as power.Reading, so a reading converts with
// accounting.Sample(r). The type is declared here rather than aliased so
// that the pure accounting core does not depend on the driver package.
type Sample struct {
	Time    time.Time `json:"time"`
	Watts   float64   `json:"watts"`
	Joules  float64   `json:"joules,omitempty"`
	Counter bool      `json:"counter,omitempty"`
}

// Options tune Integrate. The zero value is usable.
type Options struct {
	// Interval is the expected sampling interval; 0 means one second.
	Interval time.Duration
	// MaxGapIntervals is how many intervals may pass without a reading
	// before the energy in between counts as estimated; 0 means 5.
	MaxGapIntervals int
	// CounterMax is the modulus, in joules, at which the energy counter
	// wraps to zero (RAPL: (max_energy_range_uj+1)/1e6); 0 means the
	// counter does not wrap, so every drop is a reset.
	CounterMax float64
}

const (
	defaultInterval        = time.Second
	defaultMaxGapIntervals = 5
)

func (o Options) normalized() (Options, error) {
	if o.Interval < 0 {
		return o, fmt.Errorf("%w: interval %s is negative", ErrOptions, o.Interval)
	}
	if o.MaxGapIntervals < 0 {
		return o, fmt.Errorf("%w: max gap intervals %d is negative", ErrOptions, o.MaxGapIntervals)
	}
	if o.CounterMax < 0 || math.IsNaN(o.CounterMax) || math.IsInf(o.CounterMax, 0) {
		return o, fmt.Errorf("%w: counter max %g is not a non-negative number", ErrOptions, o.CounterMax)
	}
	if o.Interval == 0 {
		o.Interval = defaultInterval
	}
	if o.MaxGapIntervals == 0 {
		o.MaxGapIntervals = defaultMaxGapIntervals
	}
	return o, nil
}

// gapLimit is the longest stretch without readings that still counts as
// measured.
func (o Options) gapLimit() time.Duration {
	return time.Duration(o.MaxGapIntervals) * o.Interval
}

// Method says which kind of readings a Result was computed from.
type Method string

const (
	MethodCounter Method = "counter" // differences of a cumulative energy counter
	MethodWatts   Method = "watts"   // trapezoid rule over instantaneous watts
	MethodNone    Method = "none"    // no readings at all
	MethodMixed   Method = "mixed"   // a sum over results that used different methods
	// MethodRAPL names, in a bill, counter readings that came from the node
	// agent's in-band RAPL counter: CPU package energy, not the machine's.
	MethodRAPL Method = "rapl"
)

// Result is the energy over one window.
type Result struct {
	Joules float64 `json:"joules"`
	// Estimated is true when part of the energy was not measured but
	// inferred (gaps bridged, counter resets, no readings); Reasons says why.
	Estimated bool     `json:"estimated,omitempty"`
	Reasons   []string `json:"reasons,omitempty"`
	// Samples is the number of readings used that fall inside the window.
	Samples int `json:"samples"`
	// Coverage is the fraction of the window whose energy was measured.
	Coverage float64 `json:"coverage"`
	Method   Method  `json:"method"`
}

// Errors returned by this package, to be checked with errors.Is.
var (
	ErrOptions    = errors.New("invalid integration options")
	ErrWindow     = errors.New("invalid time window")
	ErrUnsorted   = errors.New("power samples out of time order")
	ErrBadSample  = errors.New("invalid power sample")
	ErrPhaseOrder = errors.New("job phase boundaries out of order")
	ErrTariff     = errors.New("invalid tariff")
)

// checkSamples validates the readings Integrate is about to use: ordered in
// time and holding finite, non-negative values. It checks only the slice it
// is given so that pricing many small windows stays cheap.
func checkSamples(s []Sample) error {
	for i := range s {
		v := s[i].Watts
		if s[i].Counter {
			v = s[i].Joules
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("%w: reading at %s has value %g", ErrBadSample, stamp(s[i].Time), v)
		}
		if i > 0 && s[i].Time.Before(s[i-1].Time) {
			return fmt.Errorf("%w: reading at %s follows one at %s", ErrUnsorted, stamp(s[i].Time), stamp(s[i-1].Time))
		}
	}
	return nil
}

// stamp formats times in reasons and errors: UTC, milliseconds, with the
// date because jobs run across midnight.
func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
