package accounting

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func utcAt(day, hour, minute int) time.Time {
	return time.Date(2026, 11, day, hour, minute, 0, 0, time.UTC)
}

func TestEffectiveTariffCutsAtItsDate(t *testing.T) {
	change := utcAt(26, 0, 0)
	ts, err := ParseTariffs([]Tariff{
		{Name: "flat", Schedule: "@daily", PricePerKWh: 0.20},
		{Name: "flat", Schedule: "@daily", PricePerKWh: 0.40, Effective: change},
	}, "EUR", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Two hours of 1 kW across the change: 1 kWh at each price.
	cost, pieces, err := ts.PriceFunc(constantPower(1000), change.Add(-time.Hour), change.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(pieces) != 2 || pieces[0].PricePerKWh != 0.20 || pieces[1].PricePerKWh != 0.40 || !pieces[1].From.Equal(change) {
		t.Fatalf("pieces %+v", pieces)
	}
	if math.Abs(cost-0.60) > 1e-12 {
		t.Errorf("cost %g, want 0.60", cost)
	}
	// Before every effective date the earliest set applies.
	only, err := ParseTariffs([]Tariff{{Name: "x", Schedule: "@daily", PricePerKWh: 1, Effective: change}}, "EUR", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := only.At(change.Add(-48 * time.Hour)); got.Name != "x" {
		t.Errorf("before the only date: %+v", got)
	}
}

func TestCarbonHourlyOverridesWindows(t *testing.T) {
	c, err := NewCarbon([]CarbonWindow{{Name: "grid", Schedule: "@daily", GPerKWh: 300}}, nil, []CarbonHour{
		{At: utcAt(25, 10, 0), GPerKWh: 100},
		{At: utcAt(25, 11, 0), GPerKWh: 50},
		{At: utcAt(25, 11, 30), GPerKWh: 20}, // cuts the 11:00 hour short
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		at   time.Time
		want float64
	}{{utcAt(25, 9, 59), 300}, {utcAt(25, 10, 0), 100}, {utcAt(25, 11, 29), 50}, {utcAt(25, 11, 45), 20}, {utcAt(25, 12, 30), 300}} {
		if g, ok := c.At(p.at); !ok || g != p.want {
			t.Errorf("At(%v) = %g %v, want %g", p.at, g, ok, p.want)
		}
	}
	// 1 kW from 09:00 to 13:00: 1 kWh at 300, 1 at 100, ½ at 50, 1 at 20
	// (its hour runs to 12:30), ½ at 300.
	g, unk, err := c.Grams(constantPower(1000), utcAt(25, 9, 0), utcAt(25, 13, 0))
	if err != nil || unk != 0 || math.Abs(g-(300+100+25+20+150)) > 1e-9 {
		t.Errorf("grams %g unknown %g err %v, want 595", g, unk, err)
	}
	// Hourly values alone leave the rest unknown.
	bare, err := NewCarbon(nil, nil, []CarbonHour{{At: utcAt(25, 10, 0), GPerKWh: 100}})
	if err != nil {
		t.Fatal(err)
	}
	g, unk, _ = bare.Grams(constantPower(1000), utcAt(25, 9, 0), utcAt(25, 11, 0))
	if g != 100 || unk != 3.6e6 {
		t.Errorf("grams %g unknown %g J, want 100 g and 3.6 MJ unknown", g, unk)
	}
	if _, err := c.WithHours([]CarbonHour{{At: utcAt(1, 0, 0), GPerKWh: 1}, {At: utcAt(1, 0, 0), GPerKWh: 2}}); !errors.Is(err, ErrCarbon) {
		t.Errorf("duplicate hour: %v", err)
	}
}

func TestGreenest(t *testing.T) {
	// Dirty all day but 02:00-05:00, and cleaner still in a sunny hour.
	c, err := NewCarbon([]CarbonWindow{
		{Name: "coal", Schedule: "0 5 * * *", GPerKWh: 500},
		{Name: "wind", Schedule: "0 2 * * *", GPerKWh: 100},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := utcAt(25, 22, 0)
	for _, tc := range []struct {
		name     string
		deadline time.Duration
		run      time.Duration
		want     time.Time
		mean     float64
	}{
		{"a 1h job starts when the wind blows", 8 * time.Hour, time.Hour, utcAt(26, 2, 0), 100},
		{"a 3h job fits the wind exactly", 8 * time.Hour, 3 * time.Hour, utcAt(26, 2, 0), 100},
		{"a 4h job overlaps an hour of coal either way: the earliest", 8 * time.Hour, 4 * time.Hour, utcAt(26, 1, 0), 200},
		{"nothing cleaner before the deadline: now", 3 * time.Hour, time.Hour, now, 500},
		{"no deadline: now", 0, time.Hour, now, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, mean, nowMean, ok := c.Greenest(now, tc.deadline, tc.run)
			if !ok || !at.Equal(tc.want) || math.Abs(mean-tc.mean) > 1e-9 || nowMean != 500 {
				t.Errorf("Greenest = %v mean %g (now %g) %v, want %v mean %g", at, mean, nowMean, ok, tc.want, tc.mean)
			}
		})
	}
	bare, _ := NewCarbon(nil, nil, nil)
	if _, _, _, ok := bare.Greenest(now, time.Hour, time.Hour); ok {
		t.Error("a schedule that knows nothing found a greenest start")
	}
}

const carbonCSV = `time,g_per_kwh
# published 2026-11-24
2026-11-25T00:00:00+01:00,312
2026-11-25T01:00:00+01:00,298.5

2026-11-25T02:00:00Z,120
`

func TestParseCarbonHours(t *testing.T) {
	hs, err := ParseCarbonHours("grid.csv", []byte(carbonCSV))
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 3 || hs[1].GPerKWh != 298.5 || !hs[0].At.Equal(time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)) {
		t.Fatalf("%+v", hs)
	}
	for name, tc := range map[string]struct{ text, want string }{
		"no offset":  {"2026-11-25T00:00:00,1\n", "grid.csv:1: \"2026-11-25T00:00:00\" is not an RFC 3339 time"},
		"negative":   {"2026-11-25T00:00:00Z,-1\n", "grid.csv:1: \"-1\" is not an intensity"},
		"NaN":        {"2026-11-25T00:00:00Z,NaN\n", "is not an intensity"},
		"fields":     {"2026-11-25T00:00:00Z\n", "grid.csv:1: want TIME,G_PER_KWH, got 1 fields"},
		"twice":      {"2026-11-25T00:00:00Z,1\n2026-11-25T01:00:00+01:00,2\n", "grid.csv:2: 2026-11-25T01:00:00+01:00 is also on line 1"},
		"bad quotes": {"\"2026,1\n", "grid.csv:"},
		"late head":  {"2026-11-25T00:00:00Z,1\ntime,g_per_kwh\n", "grid.csv:2: \"time\" is not an RFC 3339 time"},
	} {
		_, err := ParseCarbonHours("grid.csv", []byte(tc.text))
		if !errors.Is(err, ErrCarbon) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func FuzzParseCarbonHours(f *testing.F) {
	f.Add([]byte(carbonCSV))
	f.Add([]byte("2026-11-25T00:00:00Z,1e5\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hs, err := ParseCarbonHours("f.csv", data)
		if err != nil {
			if !errors.Is(err, ErrCarbon) {
				t.Fatalf("error not wrapped: %v", err)
			}
			return
		}
		c, err := NewCarbon(nil, nil, hs)
		if err != nil {
			t.Fatalf("parsed values refused: %v", err)
		}
		for _, h := range hs {
			if g, ok := c.At(h.At); !ok || !(g >= 0 && g <= MaxGPerKWh) {
				t.Fatalf("At(%v) = %g %v", h.At, g, ok)
			}
		}
	})
}
