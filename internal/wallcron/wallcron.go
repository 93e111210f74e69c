// Package wallcron reads five-field cron expressions as wall-clock times in
// a time zone with daylight saving time, the way people mean them: a time
// that the spring change skips (02:30 on the night clocks jump from 02:00
// to 03:00) fires when the gap ends, at 03:00; a time that the autumn
// change repeats fires once, the first time. robfig/cron walks the clock
// hour by hour in the zone itself, so it drops the first and fires the
// second twice; here the schedule is matched on a clock without DST (UTC
// holding the wall-clock fields) and each match is then placed in the zone.
// It imports nothing of bmc.
package wallcron

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a parsed cron expression read in one location.
type Schedule struct {
	spec *cron.SpecSchedule // matched on wall-clock time held as UTC
	loc  *time.Location
}

// Standard cron fields plus descriptors; seconds are not offered: nothing
// bmc schedules this way changes within a minute.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// neverFiresRef is an arbitrary fixed instant to test that a schedule fires
// at all (cron.Next looks five years ahead, which covers 29 February).
var neverFiresRef = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Parse compiles spec, read in loc (nil means UTC). Zone prefixes and
// @every are refused: the first because one set of schedules has one
// location, the second because it is relative to when it is asked.
func Parse(spec string, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	s := strings.TrimSpace(spec)
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		return nil, fmt.Errorf("schedule %q: time zone prefixes are not allowed; the location is set once", spec)
	}
	if strings.HasPrefix(s, "@every") {
		return nil, fmt.Errorf("schedule %q: @every is relative to when it is asked, not a time of day", spec)
	}
	parsed, err := parser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	ss, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("schedule %q: unsupported kind of schedule %T", spec, parsed)
	}
	ss.Location = time.UTC
	if ss.Next(neverFiresRef).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires", spec)
	}
	return &Schedule{spec: ss, loc: loc}, nil
}

// Location is where the schedule is read.
func (s *Schedule) Location() *time.Location { return s.loc }

// Next returns the first activation strictly after t, or the zero time if
// there is none within five years.
func (s *Schedule) Next(t time.Time) time.Time {
	w := Wall(t, s.loc)
	for range 8 {
		n := s.spec.Next(w)
		if n.IsZero() {
			return time.Time{}
		}
		if at := Instant(n, s.loc); at.After(t) {
			return at
		}
		// The match's first occurrence lies before t: t is in the second
		// pass of a repeated hour, whose times fired the first time.
		w = n
	}
	return time.Time{}
}

// maxLookback is how far back Prev searches: cron.Next itself gives up
// after five years.
const maxLookback = 5 * 366 * 24 * time.Hour

// Prev returns the latest activation at or before t. cron has no
// "previous", but whether some activation lies in (t-L, t] is monotone in
// L, so double L until one does, then bisect to the shortest such L: the
// activation right after t-L is then the latest one.
func (s *Schedule) Prev(t time.Time) (time.Time, bool) {
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

// Wall returns t's wall-clock reading in loc as a UTC time with the same
// fields, a clock that never jumps.
func Wall(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	y, mo, d := l.Date()
	h, mi, sec := l.Clock()
	return time.Date(y, mo, d, h, mi, sec, l.Nanosecond(), time.UTC)
}

// Instant places a wall-clock reading w (fields in UTC) in loc: the first
// instant that shows it, or, for a reading the clocks skip, the instant
// the skipped stretch ends.
func Instant(w time.Time, loc *time.Location) time.Time {
	// The offsets in force a day either side of w include both sides of
	// any change near it (zones change at most a few times a year).
	var best time.Time
	for _, probe := range []time.Duration{-24 * time.Hour, 0, 24 * time.Hour} {
		_, off := w.Add(probe).In(loc).Zone()
		c := w.Add(-time.Duration(off) * time.Second)
		if Wall(c, loc).Equal(w) && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	if !best.IsZero() {
		return best
	}
	// Skipped: read with the offset before the change, w lands after the
	// change, whose zone starts where the gap ends.
	_, before := w.Add(-24 * time.Hour).In(loc).Zone()
	start, _ := w.Add(-time.Duration(before) * time.Second).In(loc).ZoneBounds()
	return start
}
