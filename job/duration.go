package job

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxDuration bounds every duration in a job file. A year is far beyond any
// sensible batch job and keeps arithmetic on limits clear of overflow.
const MaxDuration = 365 * 24 * time.Hour

// ErrBadDuration is wrapped by every ParseDuration error.
var ErrBadDuration = errors.New("is not a duration")

// ParseDuration reads a time span the way Slurm's --time does — "90" (minutes),
// "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS" — or as a Go duration
// ("90m", "2h30m"). Zero, negative, "UNLIMITED" and spans over MaxDuration are
// refused: a job must say how long it may hold a machine.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "":
		return 0, fmt.Errorf("%q %w", s, ErrBadDuration)
	case "unlimited", "infinite":
		return 0, fmt.Errorf("%q is not allowed: give a finite time limit", s)
	}
	var d time.Duration
	var err error
	if strings.ContainsAny(t, "hmsuµn") {
		d, err = time.ParseDuration(t)
	} else {
		d, err = parseSlurmDuration(t)
	}
	if err != nil {
		return 0, fmt.Errorf("%q %w", s, ErrBadDuration)
	}
	switch {
	case d <= 0:
		return 0, fmt.Errorf("%q must be positive", s)
	case d > MaxDuration:
		return 0, fmt.Errorf("%q is longer than %s", s, Duration(MaxDuration))
	}
	return d, nil
}

// parseSlurmDuration handles the colon/dash forms. The leading field is
// unbounded (as in Slurm, "90" and "90:00" are both fine) but the ones after
// it must be in range, so typos such as "1:75:00" are caught.
func parseSlurmDuration(t string) (time.Duration, error) {
	var days int64
	rest := t
	hasDays := false
	if i := strings.IndexByte(t, '-'); i >= 0 {
		n, err := field(t[:i], -1)
		if err != nil {
			return 0, err
		}
		days, rest, hasDays = n, t[i+1:], true
	}
	parts := strings.Split(rest, ":")
	if len(parts) > 3 {
		return 0, errors.New("too many fields")
	}
	var h, m, sec int64
	var err error
	// limits: the first field of each form is unbounded unless days lead it.
	num := func(i int, limit int64) int64 {
		if err != nil {
			return 0
		}
		var n int64
		n, err = field(parts[i], limit)
		return n
	}
	if hasDays {
		// D-HH, D-HH:MM, D-HH:MM:SS
		h = num(0, 24)
		if len(parts) > 1 {
			m = num(1, 60)
		}
		if len(parts) > 2 {
			sec = num(2, 60)
		}
	} else {
		switch len(parts) {
		case 1: // minutes
			m = num(0, -1)
		case 2: // MM:SS
			m, sec = num(0, -1), num(1, 60)
		case 3: // HH:MM:SS
			h, m, sec = num(0, -1), num(1, 60), num(2, 60)
		}
	}
	if err != nil {
		return 0, err
	}
	// Bound each field before multiplying so nothing overflows.
	const maxSec = int64(MaxDuration / time.Second)
	if days > maxSec/86400+1 || h > maxSec/3600+1 || m > maxSec/60+1 || sec > maxSec+1 {
		return time.Duration(maxSec+1) * time.Second, nil
	}
	total := days*86400 + h*3600 + m*60 + sec
	return time.Duration(total) * time.Second, nil
}

// field parses one decimal field; limit < 0 means unbounded.
func field(s string, limit int64) (int64, error) {
	if s == "" || len(s) > 12 {
		return 0, errors.New("bad field")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("bad field")
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if limit >= 0 && n >= limit {
		return 0, errors.New("field out of range")
	}
	return n, nil
}

// String prints d the way squeue prints a time limit: "30:00", "1:30:00",
// "2-00:00:00". Spans with a fraction of a second fall back to Go's form, so
// ParseDuration(d.String()) always gives d back.
func (d Duration) String() string {
	td := time.Duration(d)
	if td < 0 || td%time.Second != 0 {
		return td.String()
	}
	s := int64(td / time.Second)
	days, s := s/86400, s%86400
	h, s := s/3600, s%3600
	m, s := s/60, s%60
	switch {
	case days > 0:
		return fmt.Sprintf("%d-%02d:%02d:%02d", days, h, m, s)
	case h > 0:
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	default:
		return fmt.Sprintf("%d:%02d", m, s)
	}
}
