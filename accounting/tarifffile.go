package accounting

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// TariffFile is the controller's pricing file (bmcctld --tariffs), read by
// ParseTariffFile:
//
//	currency = "EUR"
//	timezone = "Europe/Paris"          # optional; schedules are read here (default UTC)
//	[[tariff]]
//	name = "day"
//	schedule = "0 7 * * *"             # when this price starts (cron, five fields)
//	price_per_kwh = 0.30
//	[[tariff]]
//	name = "night"
//	schedule = "0 22 * * *"
//	price_per_kwh = 0.12
//	[[account]]
//	name = "physics"
//	quota_kwh = 50
type TariffFile struct {
	Currency string         `toml:"currency"`
	Timezone string         `toml:"timezone"`
	Tariffs  []Tariff       `toml:"tariff"`
	Accounts []AccountQuota `toml:"account"`
}

// AccountQuota is one account's energy quota.
type AccountQuota struct {
	Name     string  `toml:"name"`
	QuotaKWh float64 `toml:"quota_kwh"`
}

// ErrTariffFile wraps every problem with a tariff file.
var ErrTariffFile = errors.New("tariff file")

// ParseTariffFile reads a tariff file's text into the energy settings it
// gives: compiled tariffs (nil when it lists none) and quotas in kWh by
// account. Unknown keys are errors, so a typo does not silently bill at no
// cost. name is only used in errors; the caller reads the file.
func ParseTariffFile(name string, data []byte) (*Tariffs, map[string]float64, error) {
	var f TariffFile
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
		var err error
		if ts, err = ParseTariffs(f.Tariffs, f.Currency, loc); err != nil {
			return nil, nil, fmt.Errorf("%w %s: %w", ErrTariffFile, name, err)
		}
	}
	quotas := map[string]float64{}
	for _, a := range f.Accounts {
		switch {
		case strings.TrimSpace(a.Name) == "":
			return nil, nil, fmt.Errorf("%w %s: an [[account]] has no name", ErrTariffFile, name)
		case math.IsNaN(a.QuotaKWh) || math.IsInf(a.QuotaKWh, 0) || a.QuotaKWh < 0:
			return nil, nil, fmt.Errorf("%w %s: account %q: quota_kwh %g is not a non-negative number", ErrTariffFile, name, a.Name, a.QuotaKWh)
		}
		if _, dup := quotas[a.Name]; dup {
			return nil, nil, fmt.Errorf("%w %s: account %q listed twice", ErrTariffFile, name, a.Name)
		}
		quotas[a.Name] = a.QuotaKWh
	}
	return ts, quotas, nil
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
