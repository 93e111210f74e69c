package bmc

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bmc-sched/bmc/power"
)

// ErrNoReading is returned when ipmitool's output holds no usable value.
var ErrNoReading = errors.New("no power reading in BMC output")

// ParseDCMIPowerReading reads the instantaneous watts from the output of
// `ipmitool dcmi power reading`:
//
//	Instantaneous power reading:                   220 Watts
//	...
//	Power reading state is:                   activated
//
// A BMC whose power measurement is deactivated yields ErrUnsupported.
func ParseDCMIPowerReading(out string) (float64, error) {
	var (
		watts  float64
		found  bool
		active = true
	)
	for _, line := range strings.Split(out, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key = strings.ToLower(strings.TrimSpace(key))
		val = strings.TrimSpace(val)
		switch key {
		case "instantaneous power reading":
			w, err := parseWatts(val)
			if err != nil {
				return 0, fmt.Errorf("dcmi power reading: %w", err)
			}
			watts, found = w, true
		case "power reading state is":
			active = !strings.HasPrefix(strings.ToLower(val), "deactivated")
		}
	}
	if !active {
		return 0, fmt.Errorf("dcmi power reading deactivated: %w", power.ErrUnsupported)
	}
	if !found {
		return 0, fmt.Errorf("dcmi: %w", ErrNoReading)
	}
	return watts, nil
}

// ParseSDRGet reads a Watts sensor from the output of `ipmitool sdr get NAME`:
//
//	Sensor ID              : Sys Power (0x1)
//	 Sensor Reading        : 236 (+/- 0) Watts
//
// A reading in another unit, or "No Reading"/"Disabled", is an error.
func ParseSDRGet(out string) (float64, error) {
	for _, line := range strings.Split(out, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(key), "sensor reading") {
			continue
		}
		val = strings.TrimSpace(val)
		// Drop the tolerance: "236 (+/- 0) Watts" → "236 Watts".
		if i := strings.Index(val, "("); i >= 0 {
			if j := strings.Index(val[i:], ")"); j >= 0 {
				val = val[:i] + val[i+j+1:]
			}
		}
		w, err := parseWatts(val)
		if err != nil {
			return 0, fmt.Errorf("sdr sensor: %w", err)
		}
		return w, nil
	}
	return 0, fmt.Errorf("sdr sensor: %w", ErrNoReading)
}

// parseWatts reads "220 Watts" (or "220 W"): a finite, non-negative number
// followed by a watts unit.
func parseWatts(s string) (float64, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, fmt.Errorf("%q: %w", s, ErrNoReading)
	}
	if u := strings.ToLower(f[1]); u != "watts" && u != "watt" && u != "w" {
		return 0, fmt.Errorf("%q is not in watts: %w", s, ErrNoReading)
	}
	w, err := strconv.ParseFloat(f[0], 64)
	if err != nil || math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
		return 0, fmt.Errorf("%q: %w", s, ErrNoReading)
	}
	return w, nil
}
