package accounting

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// tariffFile is the controller's pricing file (bmcctld --tariffs), read by
// ParseTariffFile:
//
//	currency = "EUR"
//	timezone = "Europe/Paris"          # optional; schedules and dates are read here (default UTC)
//	[[tariff]]
//	name = "day"
//	schedule = "0 7 * * *"             # when this price starts (cron, five fields)
//	price_per_kwh = 0.30
//	[[tariff]]
//	name = "day"                       # the same window, a new price ...
//	schedule = "0 7 * * *"
//	price_per_kwh = 0.34
//	effective = 2026-12-01             # ... from this date (or date-time) on
//	[[tariff]]
//	name = "night"
//	schedule = "0 22 * * *"
//	price_per_kwh = 0.12
//	[[carbon]]                         # optional: grid carbon intensity, same cron form
//	name = "solar"
//	schedule = "0 10 * * *"
//	g_per_kwh = 80
type tariffFile struct {
	Currency string       `toml:"currency"`
	Timezone string       `toml:"timezone"`
	Tariffs  []tariffRow  `toml:"tariff"`
	Carbon   []carbonRow  `toml:"carbon"`
	Accounts []tomlAnyMap `toml:"account"`
}

type tariffRow struct {
	Name        string  `toml:"name"`
	Schedule    string  `toml:"schedule"`
	PricePerKWh float64 `toml:"price_per_kwh"`
	Effective   any     `toml:"effective"`
}

type carbonRow struct {
	Name      string  `toml:"name"`
	Schedule  string  `toml:"schedule"`
	GPerKWh   float64 `toml:"g_per_kwh"`
	Effective any     `toml:"effective"`
}

type tomlAnyMap = map[string]any

// ErrTariffFile wraps every problem with a tariff file.
var ErrTariffFile = errors.New("tariff file")

// ParseTariffFile reads a tariff file's text (format on tariffFile): the
// compiled tariffs (nil when it lists none) and the carbon-intensity
// windows (nil when it lists none; hourly values are imported apart, see
// ParseCarbonHours). Unknown keys are errors, so a typo does not silently
// bill at no cost. name is only used in errors; the caller reads the file.
func ParseTariffFile(name string, data []byte) (*Tariffs, *Carbon, error) {
	var f tariffFile
	if err := decodeTOML(data, &f); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, nil, fmt.Errorf("%w %s:%d:%d: %s", ErrTariffFile, name, row, col, de.Error())
		}
		var se *toml.StrictMissingError
		if errors.As(err, &se) {
			return nil, nil, fmt.Errorf("%w %s: %s", ErrTariffFile, name, strings.TrimSpace(se.String()))
		}
		return nil, nil, fmt.Errorf("%w %s: %w", ErrTariffFile, name, err)
	}
	if len(f.Accounts) > 0 {
		return nil, nil, fmt.Errorf("%w %s: [[account]] quotas are set on the accounts now, with a period: "+
			"bmcq account modify NAME --energy-limit KWH (or bmcq account import); see docs/accounting.md", ErrTariffFile, name)
	}
	loc := time.UTC
	if f.Timezone != "" {
		l, err := time.LoadLocation(f.Timezone)
		if err != nil {
			return nil, nil, fmt.Errorf("%w %s: timezone: %w", ErrTariffFile, name, err)
		}
		loc = l
	}
	var ts *Tariffs
	if len(f.Tariffs) > 0 {
		rows := make([]Tariff, len(f.Tariffs))
		for i, r := range f.Tariffs {
			eff, err := effectiveAt(r.Effective, loc)
			if err != nil {
				return nil, nil, fmt.Errorf("%w %s: tariff %q: effective: %w", ErrTariffFile, name, r.Name, err)
			}
			rows[i] = Tariff{Name: r.Name, Schedule: r.Schedule, PricePerKWh: r.PricePerKWh, Effective: eff}
		}
		var err error
		if ts, err = ParseTariffs(rows, f.Currency, loc); err != nil {
			return nil, nil, fmt.Errorf("%w %s: %w", ErrTariffFile, name, err)
		}
	}
	var carbon *Carbon
	if len(f.Carbon) > 0 {
		rows := make([]CarbonWindow, len(f.Carbon))
		for i, r := range f.Carbon {
			eff, err := effectiveAt(r.Effective, loc)
			if err != nil {
				return nil, nil, fmt.Errorf("%w %s: carbon %q: effective: %w", ErrTariffFile, name, r.Name, err)
			}
			rows[i] = CarbonWindow{Name: r.Name, Schedule: r.Schedule, GPerKWh: r.GPerKWh, Effective: eff}
		}
		var err error
		if carbon, err = NewCarbon(rows, loc, nil); err != nil {
			return nil, nil, fmt.Errorf("%w %s: %w", ErrTariffFile, name, err)
		}
	}
	return ts, carbon, nil
}

// effectiveAt reads an effective date: a TOML date (midnight) or local
// date-time, both in loc, or a date-time with an offset. Nil is "always".
func effectiveAt(v any, loc *time.Location) (time.Time, error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, nil
	case toml.LocalDate:
		return time.Date(x.Year, time.Month(x.Month), x.Day, 0, 0, 0, 0, loc), nil
	case toml.LocalDateTime:
		return time.Date(x.Year, time.Month(x.Month), x.Day, x.Hour, x.Minute, x.Second, x.Nanosecond, loc), nil
	case time.Time:
		return x, nil
	}
	return time.Time{}, fmt.Errorf("%v is not a date (write it bare, like 2026-12-01, or 2026-12-01T06:00:00)", v)
}

// decodeTOML decodes strictly. go-toml v2.2.4 panics on some malformed
// numbers (found by FuzzParseTariffFile: `price_per_kwh = +A`); a bad file
// must be an error, not a crash of bmcctld at start.
func decodeTOML(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("not valid TOML (the parser failed: %v)", r)
		}
	}()
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
