package accounting

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/internal/wallcron"
)

// windowSpec is one priced (or weighted) window as a file gives it: a name,
// a cron expression for when it starts, a value, and the instant it takes
// effect (zero: from the start).
type windowSpec struct {
	name      string
	schedule  string
	value     float64
	effective time.Time
}

// windows are cron-started windows with values, in versions by effective
// date: tariffs (price per kWh) and carbon intensity (gCO2e per kWh) alike.
// A window lasts until the next start of any window of its version; the
// version in force at t is the latest whose date is at or before t.
type windows struct {
	versions []version // by from, ascending; versions[0] also applies before its date
	loc      *time.Location
}

type version struct {
	from    time.Time
	entries []window
}

type window struct {
	name  string
	value float64
	sched *wallcron.Schedule
}

// span is a stretch of time under one window.
type span struct {
	from, to time.Time
	name     string
	value    float64
}

// newWindows checks and compiles specs read in loc. A spec whose name comes
// again with a later effective date replaces it from that date on; a name
// first given with a date is added from that date. what names the kind of
// window and unit its value, in errors.
func newWindows(specs []windowSpec, loc *time.Location, what, unit string) (*windows, error) {
	if loc == nil {
		loc = time.UTC
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("no %ss given", what)
	}
	type key struct {
		name string
		at   time.Time
	}
	seen := map[key]bool{}
	compiled := make([]window, len(specs))
	var names []string
	var dates []time.Time
	for i, s := range specs {
		if strings.TrimSpace(s.name) == "" {
			return nil, fmt.Errorf("%s %q: name is empty", what, s.name)
		}
		if math.IsNaN(s.value) || math.IsInf(s.value, 0) || s.value < 0 {
			return nil, fmt.Errorf("%s %q: %s %g is not a non-negative number", what, s.name, unit, s.value)
		}
		sched, err := wallcron.Parse(s.schedule, loc)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, s.name, err)
		}
		k := key{s.name, s.effective}
		if seen[k] {
			if s.effective.IsZero() {
				return nil, fmt.Errorf("%s %q: name used twice", what, s.name)
			}
			return nil, fmt.Errorf("%s %q: listed twice for effective %s", what, s.name, s.effective.Format(time.RFC3339))
		}
		seen[k] = true
		if !slices.Contains(names, s.name) {
			names = append(names, s.name)
		}
		dates = append(dates, s.effective)
		compiled[i] = window{name: s.name, value: s.value, sched: sched}
	}
	slices.SortFunc(dates, func(a, b time.Time) int { return a.Compare(b) })
	dates = slices.CompactFunc(dates, func(a, b time.Time) bool { return a.Equal(b) })
	w := &windows{loc: loc}
	for _, d := range dates {
		v := version{from: d}
		// In the order names first appear, so the later-listed rule for
		// windows starting at the same instant reads as the file does.
		for _, n := range names {
			best := -1
			for i, s := range specs {
				if s.name == n && !s.effective.After(d) && (best < 0 || s.effective.After(specs[best].effective)) {
					best = i
				}
			}
			if best >= 0 {
				v.entries = append(v.entries, compiled[best])
			}
		}
		w.versions = append(w.versions, v)
	}
	return w, nil
}

// versionAt returns the index of the version in force at t.
func (w *windows) versionAt(t time.Time) int {
	// Never "equal": the search lands on the first version dated after t.
	i, _ := slices.BinarySearchFunc(w.versions, t, func(v version, t time.Time) int {
		if v.from.After(t) {
			return 1
		}
		return -1
	})
	return max(i-1, 0)
}

// at returns the window in force at t: of the version in force, the one
// whose latest start at or before t is latest, the later-listed on a tie.
func (w *windows) at(t time.Time) window {
	entries := w.versions[w.versionAt(t)].entries
	best, bestAt := -1, time.Time{}
	for i, e := range entries {
		p, ok := e.sched.Prev(t)
		if !ok {
			continue
		}
		if best < 0 || !p.Before(bestAt) {
			best, bestAt = i, p
		}
	}
	if best < 0 {
		// Nothing started within five years (only schedules like
		// "29 February" at the turn of a century): the first listed.
		return entries[0]
	}
	return entries[best]
}

// nextChange returns the first instant strictly after t where the window
// in force may change: a start of a window of the version in force at t, or
// the next version's date; zero if none within five years.
func (w *windows) nextChange(t time.Time) time.Time {
	vi := w.versionAt(t)
	var next time.Time
	if vi+1 < len(w.versions) && w.versions[vi+1].from.After(t) {
		next = w.versions[vi+1].from
	}
	for _, e := range w.versions[vi].entries {
		n := e.sched.Next(t)
		if !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next
}

// spans cuts [from, to] where the window in force changes. Neighbours
// under the same name and value are one span.
func (w *windows) spans(from, to time.Time) []span {
	var out []span
	for cur := from; ; {
		e := w.at(cur)
		end := to
		if next := w.nextChange(cur); !next.IsZero() && next.Before(to) {
			end = next
		}
		if n := len(out); n > 0 && out[n-1].name == e.name && out[n-1].value == e.value {
			out[n-1].to = end
		} else {
			out = append(out, span{from: cur, to: end, name: e.name, value: e.value})
		}
		if !end.Before(to) {
			return out
		}
		cur = end
	}
}
