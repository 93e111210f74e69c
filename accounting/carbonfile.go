package accounting

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// MaxCarbonHours bounds an import: ten years of hourly values.
const MaxCarbonHours = 10 * 366 * 24

// ParseCarbonHours reads a file of hourly carbon intensities, as grid
// operators publish them: CSV lines "TIME,G_PER_KWH", TIME in RFC 3339
// with its offset (2026-11-25T14:00:00+01:00), the value in gCO2e per kWh.
// A header line ("time,g_per_kwh"), blank lines and lines starting with #
// are skipped. Every problem is one error naming the file and line; name
// is only used in them (the caller reads the file).
func ParseCarbonHours(name string, data []byte) ([]CarbonHour, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	seen := map[int64]int{}
	var out []CarbonHour
	for first := true; ; first = false {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%w %s:%d: %v", ErrCarbon, name, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("%w %s: %w", ErrCarbon, name, err)
		}
		line, _ := r.FieldPos(0)
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w %s:%d: %s", ErrCarbon, name, line, fmt.Sprintf(format, a...))
		}
		if len(rec) != 2 {
			return nil, bad("want TIME,G_PER_KWH, got %d fields", len(rec))
		}
		ts, vs := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if first && strings.EqualFold(ts, "time") {
			continue
		}
		at, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			return nil, bad("%q is not an RFC 3339 time with an offset, like 2026-11-25T14:00:00+01:00", ts)
		}
		v, err := strconv.ParseFloat(vs, 64)
		if err != nil || !(v >= 0 && v <= MaxGPerKWh) {
			return nil, bad("%q is not an intensity in gCO2e/kWh (0..%d)", vs, MaxGPerKWh)
		}
		if prev, dup := seen[at.UnixNano()]; dup {
			return nil, bad("%s is also on line %d", ts, prev)
		}
		if len(out) == MaxCarbonHours {
			return nil, bad("more than %d values; import them in parts", MaxCarbonHours)
		}
		seen[at.UnixNano()] = line
		out = append(out, CarbonHour{At: at, GPerKWh: v})
	}
	return out, nil
}
