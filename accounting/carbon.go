package accounting

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// ErrCarbon wraps every problem with a carbon-intensity schedule or file.
var ErrCarbon = errors.New("carbon intensity")

// CarbonWindow is one carbon-intensity window, in the same cron form as a
// tariff: it starts at Schedule's times and lasts until the next start.
type CarbonWindow struct {
	Name      string    `json:"name"`
	Schedule  string    `json:"schedule"`
	GPerKWh   float64   `json:"g_per_kwh"`
	Effective time.Time `json:"effective,omitzero"`
}

// CarbonHour is one imported value: the grid's intensity for the hour
// that starts at At (less when the next value starts sooner).
type CarbonHour struct {
	At      time.Time `json:"at"`
	GPerKWh float64   `json:"g_per_kwh"`
}

// MaxGPerKWh bounds an intensity: the dirtiest grids are near 1,000.
const MaxGPerKWh = 100000

// Carbon is an immutable carbon-intensity schedule: imported hourly values
// where there are some, else the cron windows, else unknown.
type Carbon struct {
	w     *windows // nil: no windows
	hours []CarbonHour
}

// NewCarbon checks and compiles a schedule: windows read in loc (nil means
// UTC; none at all is allowed) and hourly values (any order).
func NewCarbon(ws []CarbonWindow, loc *time.Location, hours []CarbonHour) (*Carbon, error) {
	c := &Carbon{}
	if len(ws) > 0 {
		specs := make([]windowSpec, len(ws))
		for i, x := range ws {
			specs[i] = windowSpec{name: x.Name, schedule: x.Schedule, value: x.GPerKWh, effective: x.Effective}
		}
		w, err := newWindows(specs, loc, "carbon window", "g_per_kwh")
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCarbon, err)
		}
		c.w = w
	}
	return c.WithHours(hours)
}

// WithHours returns the schedule with its hourly values replaced by hours.
func (c *Carbon) WithHours(hours []CarbonHour) (*Carbon, error) {
	hs := slices.Clone(hours)
	for _, h := range hs {
		if math.IsNaN(h.GPerKWh) || h.GPerKWh < 0 || h.GPerKWh > MaxGPerKWh {
			return nil, fmt.Errorf("%w: %s: %g g/kWh is outside 0..%d", ErrCarbon, h.At.Format(time.RFC3339), h.GPerKWh, MaxGPerKWh)
		}
	}
	slices.SortFunc(hs, func(a, b CarbonHour) int { return a.At.Compare(b.At) })
	for i := 1; i < len(hs); i++ {
		if hs[i].At.Equal(hs[i-1].At) {
			return nil, fmt.Errorf("%w: %s given twice", ErrCarbon, hs[i].At.Format(time.RFC3339))
		}
	}
	return &Carbon{w: c.w, hours: hs}, nil
}

// Hours returns the hourly values, by time.
func (c *Carbon) Hours() []CarbonHour { return slices.Clone(c.hours) }

// unknown marks a span with no intensity.
const unknown = "unknown"

// spans cuts [from, to] by intensity: hourly values first, the windows in
// their gaps, and spans named unknown (value NaN) where neither says.
func (c *Carbon) spans(from, to time.Time) []span {
	var out []span
	fill := func(a, b time.Time) {
		if !a.Before(b) {
			return
		}
		if c.w == nil {
			out = append(out, span{from: a, to: b, name: unknown, value: math.NaN()})
			return
		}
		out = append(out, c.w.spans(a, b)...)
	}
	cur := from
	i, _ := slices.BinarySearchFunc(c.hours, from, func(h CarbonHour, t time.Time) int { return h.At.Compare(t) })
	if i > 0 && c.hours[i-1].At.Add(time.Hour).After(from) {
		i--
	}
	for ; i < len(c.hours) && c.hours[i].At.Before(to); i++ {
		h := c.hours[i]
		end := h.At.Add(time.Hour)
		if i+1 < len(c.hours) && c.hours[i+1].At.Before(end) {
			end = c.hours[i+1].At
		}
		start := h.At
		if start.Before(cur) {
			start = cur
		}
		if end.After(to) {
			end = to
		}
		if !start.Before(end) {
			continue
		}
		fill(cur, start)
		out = append(out, span{from: start, to: end, name: "hourly", value: h.GPerKWh})
		cur = end
	}
	fill(cur, to)
	if len(out) == 0 {
		fill(from, from.Add(1)) // an empty window still has an intensity
		out[0].to = to
	}
	return out
}

// At returns the intensity in force at t, and false when none is known.
func (c *Carbon) At(t time.Time) (float64, bool) {
	s := c.spans(t, t.Add(time.Nanosecond))[0]
	return s.value, s.name != unknown
}

// Grams is the CO2e of the energy between from and to: each stretch's
// joules times its intensity. unknownJ is the energy of stretches whose
// intensity is not known, which adds no grams.
func (c *Carbon) Grams(energy EnergyFunc, from, to time.Time) (grams, unknownJ float64, err error) {
	if to.Before(from) {
		return 0, 0, fmt.Errorf("%w: ends at %s before it starts at %s", ErrWindow, stamp(to), stamp(from))
	}
	for _, s := range c.spans(from, to) {
		r, err := energy(s.from, s.to)
		if err != nil {
			return 0, 0, fmt.Errorf("carbon %s to %s: %w", stamp(s.from), stamp(s.to), err)
		}
		if s.name == unknown {
			unknownJ += r.Joules
			continue
		}
		grams += r.Joules / JoulesPerKWh * s.value
	}
	return grams, unknownJ, nil
}

// Greenest returns the start within [now, now+deadline] whose run of
// length run has the lowest mean intensity (the earliest of equals), that
// mean, and the mean of starting now. Only starts whose whole run has a
// known intensity count; ok is false when none has.
func (c *Carbon) Greenest(now time.Time, deadline, run time.Duration) (start time.Time, mean, nowMean float64, ok bool) {
	if deadline < 0 || run <= 0 {
		return time.Time{}, 0, 0, false
	}
	spans := c.spans(now, now.Add(deadline+run))
	// The mean of a piecewise-constant intensity over a sliding window
	// changes slope only where the window's start or end meets an edge:
	// its minimum is at one of those starts or at the bounds.
	cands := []time.Time{now, now.Add(deadline)}
	for _, s := range spans[1:] {
		for _, at := range []time.Time{s.from, s.from.Add(-run)} {
			if !at.Before(now) && !at.After(now.Add(deadline)) {
				cands = append(cands, at)
			}
		}
	}
	slices.SortFunc(cands, func(a, b time.Time) int { return a.Compare(b) })
	meanAt := func(at time.Time) (float64, bool) {
		end := at.Add(run)
		var sum float64
		for _, s := range spans {
			a, b := maxTime(s.from, at), minTime(s.to, end)
			if !a.Before(b) {
				continue
			}
			if s.name == unknown {
				return 0, false
			}
			sum += s.value * b.Sub(a).Seconds()
		}
		return sum / run.Seconds(), true
	}
	nowMean, _ = meanAt(now)
	for _, at := range cands {
		m, known := meanAt(at)
		if known && (!ok || m < mean-1e-9) {
			start, mean, ok = at, m, true
		}
	}
	return start, mean, nowMean, ok
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
