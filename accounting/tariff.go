package accounting

import (
	"fmt"
	"time"
)

// Tariff is one price window. Schedule is a five-field cron expression (or
// a descriptor such as @daily) giving the times the window starts, read as
// wall-clock times in the set's location (a start that daylight saving
// skips happens when the skipped hour ends; one it repeats, once); it
// lasts until the next start of any tariff in force. Effective, when set,
// is when this price takes over from the tariff of the same name (or
// starts, for a new name); zero means from the beginning.
type Tariff struct {
	Name        string    `json:"name" toml:"name"`
	Schedule    string    `json:"schedule" toml:"schedule"`
	PricePerKWh float64   `json:"price_per_kwh" toml:"price_per_kwh"`
	Effective   time.Time `json:"effective,omitzero" toml:"-"`
}

// Tariffs is a parsed, immutable set of tariff windows, in versions by
// effective date.
type Tariffs struct {
	w        *windows
	currency string
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

// ParseTariffs checks and compiles tariffs. Schedules are read in loc (nil
// means UTC), so "0 22 * * *" is 22:00 local time, DST included. When two
// tariffs start at the same instant the one listed later wins, so a specific
// window ("0 6 * * 0,6", weekend day rate) can override a general one. A
// tariff with an Effective date replaces the one of the same name from that
// instant on, so energy used before a price change keeps the old price.
func ParseTariffs(ts []Tariff, currency string, loc *time.Location) (*Tariffs, error) {
	specs := make([]windowSpec, len(ts))
	for i, t := range ts {
		specs[i] = windowSpec{name: t.Name, schedule: t.Schedule, value: t.PricePerKWh, effective: t.Effective}
	}
	w, err := newWindows(specs, loc, "tariff", "price per kWh")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTariff, err)
	}
	return &Tariffs{w: w, currency: currency}, nil
}

// Currency is the currency of the prices.
func (ts *Tariffs) Currency() string { return ts.currency }

// Location is where the schedules are read.
func (ts *Tariffs) Location() *time.Location { return ts.w.loc }

// At returns the tariff in force at t.
func (ts *Tariffs) At(t time.Time) Tariff {
	e := ts.w.at(t)
	return Tariff{Name: e.name, PricePerKWh: e.value}
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
// the tariff in force changes (a window starts, or a new price takes
// effect) and energy(piece) is priced at the piece's tariff. The cost is
// the sum of the pieces' costs.
func (ts *Tariffs) PriceFunc(energy EnergyFunc, from, to time.Time) (float64, []Piece, error) {
	if to.Before(from) {
		return 0, nil, fmt.Errorf("%w: ends at %s before it starts at %s", ErrWindow, stamp(to), stamp(from))
	}
	segs := ts.w.spans(from, to)
	var cost float64
	pieces := make([]Piece, 0, len(segs))
	for _, s := range segs {
		r, err := energy(s.from, s.to)
		if err != nil {
			return 0, nil, fmt.Errorf("pricing %s to %s: %w", stamp(s.from), stamp(s.to), err)
		}
		p := Piece{Tariff: s.name, PricePerKWh: s.value, From: s.from, To: s.to, Energy: r, Cost: r.Joules / JoulesPerKWh * s.value}
		cost += p.Cost
		pieces = append(pieces, p)
	}
	return cost, pieces, nil
}
