package bmcq

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

// fmtDuration prints a span the way squeue does: M:SS, H:MM:SS, D-HH:MM:SS.
func fmtDuration(sec float64) string {
	if sec < 0 {
		sec = 0
	}
	s := int64(sec)
	d, s := s/86400, s%86400
	h, s := s/3600, s%3600
	m, s := s/60, s%60
	b := make([]byte, 0, 16)
	two := func(v int64) { b = append(b, byte('0'+v/10), byte('0'+v%10)) }
	switch {
	case d > 0:
		b = strconv.AppendInt(b, d, 10)
		b = append(b, '-')
		two(h)
		b = append(b, ':')
		two(m)
	case h > 0:
		b = strconv.AppendInt(b, h, 10)
		b = append(b, ':')
		two(m)
	default:
		b = strconv.AppendInt(b, m, 10)
	}
	b = append(b, ':')
	two(s)
	return string(b)
}

// trunc cuts s to n runes, the last one an ellipsis.
func trunc(s string, n int) string {
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orDefault(s string) string {
	if s == "" {
		return "(cluster default)"
	}
	return s
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

func fmtBytes(b int64) string {
	switch {
	case b == 0:
		return "-"
	case b%(1<<30) == 0:
		return fmt.Sprintf("%dG", b>>30)
	case b%(1<<20) == 0:
		return fmt.Sprintf("%dM", b>>20)
	}
	return fmt.Sprintf("%dK", b>>10)
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02T15:04:05")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
