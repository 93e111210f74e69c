package accounting

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Tariff is one price window. Schedule is a five-field cron expression (or
// a descriptor such as @daily) giving the times the window starts; it lasts
// until the next start of any tariff in the set.
type Tariff struct {
	Name        string  `json:"name" toml:"name"`
	Schedule    string  `json:"schedule" toml:"schedule"`
	PricePerKWh float64 `json:"price_per_kwh" toml:"price_per_kwh"`
}

// Tariffs is a parsed, immutable set of tariff windows.
type Tariffs struct {
	entries  []tariffEntry
	currency string
	loc      *time.Location
}

type tariffEntry struct {
	Tariff
	sched *cron.SpecSchedule
}

// Piece is the part of a priced window under one tariff.
type Piece struct {
	Tariff      string    `json:"tariff"`
	PricePerKWh float64   `json:"price_per_kwh"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Energy      Result    `json:"energy"`
	Cost        float64   `json:"cost"`
}

// Standard cron fields plus descriptors; seconds are not offered because a
// tariff never changes within a minute.
var tariffParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseTariffs checks and compiles tariffs. Schedules are read in loc (nil
// means UTC), so "0 22 * * *" is 22:00 local time, DST included. When two
// tariffs start at the same instant the one listed later wins, so a specific
// window ("0 6 * * 0,6", weekend day rate) can override a general one.
func ParseTariffs(ts []Tariff, currency string, loc *time.Location) (*Tariffs, error) {
	if loc == nil {
		loc = time.UTC
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("%w: no tariffs given", ErrTariff)
	}
	out := &Tariffs{currency: currency, loc: loc}
	seen := make(map[string]bool, len(ts))
	for _, t := range ts {
		s, err := parseTariff(t, loc)
		if err != nil {
			return nil, fmt.Errorf("%w: tariff %q: %w", ErrTariff, t.Name, err)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("%w: tariff %q: name used twice", ErrTariff, t.Name)
		}
		seen[t.Name] = true
		out.entries = append(out.entries, tariffEntry{Tariff: t, sched: s})
	}
	return out, nil
}

// neverFiresRef is an arbitrary fixed instant to test that a schedule fires
// at all (cron.Next looks five years ahead, which covers 29 February).
var neverFiresRef = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func parseTariff(t Tariff, loc *time.Location) (*cron.SpecSchedule, error) {
	if strings.TrimSpace(t.Name) == "" {
		return nil, errors.New("name is empty")
	}
	if math.IsNaN(t.PricePerKWh) || math.IsInf(t.PricePerKWh, 0) || t.PricePerKWh < 0 {
		return nil, fmt.Errorf("price per kWh %g is not a non-negative number", t.PricePerKWh)
	}
	spec := strings.TrimSpace(t.Schedule)
	// A per-entry zone would make the parser load zone files (I/O) and two
	// zones in one set would be a puzzle; the set has one location.
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, fmt.Errorf("schedule %q: time zone prefixes are not allowed; the tariff set has one location", t.Schedule)
	}
	if strings.HasPrefix(spec, "@every") {
		return nil, fmt.Errorf("schedule %q: @every is relative to when it is asked, not a time of day", t.Schedule)
	}
	parsed, err := tariffParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", t.Schedule, err)
	}
	s, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("schedule %q: unsupported kind of schedule %T", t.Schedule, parsed)
	}
	s.Location = loc
	if s.Next(neverFiresRef).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires", t.Schedule)
	}
	return s, nil
}

// Currency is the currency of the prices.
func (ts *Tariffs) Currency() string { return ts.currency }

// Location is where the schedules are read.
func (ts *Tariffs) Location() *time.Location { return ts.loc }

// At returns the tariff in force at t.
func (ts *Tariffs) At(t time.Time) Tariff {
	return ts.entries[ts.at(t)].Tariff
}

// maxLookback is how far back At searches for the latest start: cron.Next
// itself gives up after five years.
const maxLookback = 5 * 366 * 24 * time.Hour

// at returns the index of the tariff in force at t: the one whose latest
// start at or before t is latest, the later-listed on a tie.
func (ts *Tariffs) at(t time.Time) int {
	best, bestAt := -1, time.Time{}
	for i, e := range ts.entries {
		p, ok := prevStart(e.sched, t)
		if !ok {
			continue
		}
		if best < 0 || !p.Before(bestAt) {
			best, bestAt = i, p
		}
	}
	if best < 0 {
		// Nothing started within five years (only schedules like
		// "29 February" at the turn of a century): fall back to the first
		// listed.
		return 0
	}
	return best
}

// prevStart finds the latest activation of s at or before t. cron has no
// "previous", but whether some activation lies in (t-L, t] is monotone in
// L, so double L until one does, then bisect to the shortest such L: the
// activation right after t-L is then the latest one.
func prevStart(s *cron.SpecSchedule, t time.Time) (time.Time, bool) {
	fires := func(l time.Duration) bool {
		n := s.Next(t.Add(-l))
		return !n.IsZero() && !n.After(t)
	}
	hi := time.Minute
	for !fires(hi) {
		if hi >= maxLookback {
			return time.Time{}, false
		}
		hi = min(hi*2, maxLookback)
	}
	lo := time.Duration(0) // fires(lo) is false: (t, t] is empty
	for hi-lo > time.Second {
		mid := lo + (hi-lo)/2
		if fires(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return s.Next(t.Add(-hi)), true
}

// EnergyFunc returns the energy used in a window, e.g. Integrate over a
// node's samples, or a sum over a job's nodes.
type EnergyFunc func(from, to time.Time) (Result, error)

// Price prices the energy in samples between from and to, piece by piece
// across tariff windows.
func (ts *Tariffs) Price(samples []Sample, from, to time.Time, opt Options) (float64, []Piece, error) {
	return ts.PriceFunc(func(a, b time.Time) (Result, error) {
		return Integrate(samples, a, b, opt)
	}, from, to)
}

// PriceFunc prices the energy between from and to: the window is cut where
// tariffs change and energy(piece) is priced at the piece's tariff. The cost
// is the sum of the pieces' costs.
func (ts *Tariffs) PriceFunc(energy EnergyFunc, from, to time.Time) (float64, []Piece, error) {
	if to.Before(from) {
		return 0, nil, fmt.Errorf("%w: ends at %s before it starts at %s", ErrWindow, stamp(to), stamp(from))
	}
	type cut struct {
		from, to time.Time
		entry    int
	}
	var cuts []cut
	cur, entry := from, ts.at(from)
	for {
		next, nextEntry := ts.nextChange(cur)
		end := to
		if !next.IsZero() && next.Before(to) {
			end = next
		}
		if len(cuts) > 0 && cuts[len(cuts)-1].entry == entry {
			cuts[len(cuts)-1].to = end // same tariff again: one piece
		} else {
			cuts = append(cuts, cut{cur, end, entry})
		}
		if !end.Before(to) {
			break
		}
		cur, entry = end, nextEntry
	}
	var cost float64
	pieces := make([]Piece, 0, len(cuts))
	for _, c := range cuts {
		r, err := energy(c.from, c.to)
		if err != nil {
			return 0, nil, fmt.Errorf("pricing %s to %s: %w", stamp(c.from), stamp(c.to), err)
		}
		e := ts.entries[c.entry]
		p := Piece{Tariff: e.Name, PricePerKWh: e.PricePerKWh, From: c.from, To: c.to, Energy: r, Cost: r.Joules / JoulesPerKWh * e.PricePerKWh}
		cost += p.Cost
		pieces = append(pieces, p)
	}
	return cost, pieces, nil
}

// nextChange returns the first tariff start strictly after t and which
// tariff it starts (the later-listed on a tie); zero if none within five
// years.
func (ts *Tariffs) nextChange(t time.Time) (time.Time, int) {
	best, bestAt := -1, time.Time{}
	for i, e := range ts.entries {
		n := e.sched.Next(t)
		if n.IsZero() {
			continue
		}
		if best < 0 || !n.After(bestAt) {
			best, bestAt = i, n
		}
	}
	if best < 0 {
		return time.Time{}, 0
	}
	return bestAt, best
}
