package accounting

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zone data, whatever the machine has
)

// cet is a fixed zone so that tests do not depend on the machine's zone
// files.
var cet = time.FixedZone("CET", 3600)

func local(day, hour, minute int) time.Time {
	return time.Date(2026, 11, day, hour, minute, 0, 0, cet)
}

func dayNight(t *testing.T) *Tariffs {
	t.Helper()
	ts, err := ParseTariffs([]Tariff{
		{Name: "night", Schedule: "0 22 * * *", PricePerKWh: 0.10},
		{Name: "day", Schedule: "0 6 * * *", PricePerKWh: 0.25},
		// Listed later, so it wins over "day" when both start at 06:00.
		{Name: "weekend", Schedule: "0 6 * * 0,6", PricePerKWh: 0.15},
	}, "EUR", cet)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestParseTariffsErrors(t *testing.T) {
	ok := Tariff{Name: "day", Schedule: "0 6 * * *", PricePerKWh: 0.2}
	tests := []struct {
		name string
		in   []Tariff
		want string
	}{
		{"none", nil, "no tariffs given"},
		{"bad hour", []Tariff{ok, {Name: "night", Schedule: "0 25 * * *", PricePerKWh: 0.1}}, `tariff "night": schedule "0 25 * * *": `},
		{"too few fields", []Tariff{{Name: "x", Schedule: "0 6 *", PricePerKWh: 0.1}}, `tariff "x": schedule "0 6 *": `},
		{"seconds field", []Tariff{{Name: "x", Schedule: "0 0 6 * * *", PricePerKWh: 0.1}}, `tariff "x": schedule "0 0 6 * * *": `},
		{"empty name", []Tariff{{Name: " ", Schedule: "0 6 * * *"}}, `tariff " ": name is empty`},
		{"duplicate", []Tariff{ok, ok}, `tariff "day": name used twice`},
		{"negative price", []Tariff{{Name: "x", Schedule: "@daily", PricePerKWh: -1}}, `tariff "x": price per kWh -1 is not a non-negative number`},
		{"NaN price", []Tariff{{Name: "x", Schedule: "@daily", PricePerKWh: math.NaN()}}, `price per kWh NaN`},
		{"zone prefix", []Tariff{{Name: "x", Schedule: "CRON_TZ=Europe/Paris 0 6 * * *"}}, `time zone prefixes are not allowed`},
		{"every", []Tariff{{Name: "x", Schedule: "@every 1h"}}, `@every is relative`},
		{"never", []Tariff{{Name: "x", Schedule: "0 0 30 2 *"}}, `schedule "0 0 30 2 *" never fires`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTariffs(tt.in, "EUR", time.UTC)
			if !errors.Is(err, ErrTariff) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrTariff with %q", err, tt.want)
			}
		})
	}
}

func TestTariffsAt(t *testing.T) {
	ts := dayNight(t)
	tests := []struct {
		at   time.Time
		want string
	}{
		{local(25, 21, 59), "day"}, // Wednesday
		{local(25, 22, 0), "night"},
		{local(26, 5, 59), "night"},
		{local(26, 6, 0), "day"},
		{local(28, 6, 0), "weekend"}, // Saturday: both start, the later-listed wins
		{local(28, 22, 0), "night"},
		{local(29, 12, 0), "weekend"}, // Sunday
		{local(30, 6, 0).Add(-time.Nanosecond), "night"},
		{local(30, 6, 0), "day"}, // Monday
		{local(25, 21, 30).UTC(), "day"},
		{local(25, 22, 0).UTC(), "night"}, // 21:00 UTC is 22:00 CET
	}
	for _, tt := range tests {
		if got := ts.At(tt.at).Name; got != tt.want {
			t.Errorf("At(%v) = %s, want %s", tt.at, got, tt.want)
		}
	}
	if ts.Currency() != "EUR" || ts.Location() != cet {
		t.Errorf("currency %q location %v", ts.Currency(), ts.Location())
	}
	// Schedules far apart: the search looks back months.
	rare, err := ParseTariffs([]Tariff{
		{Name: "q1", Schedule: "0 0 1 1 *"}, {Name: "rest", Schedule: "0 0 1 4 *"}, {Name: "leap", Schedule: "0 0 29 2 *"},
	}, "EUR", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), "rest"},
		{time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), "q1"},
		{time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC), "leap"},
	} {
		if got := rare.At(c.at).Name; got != c.want {
			t.Errorf("At(%v) = %s, want %s", c.at, got, c.want)
		}
	}
}

func TestTariffsDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("no zone data: %v", err)
	}
	ts, err := ParseTariffs([]Tariff{{Name: "night", Schedule: "0 22 * * *", PricePerKWh: 0.1}, {Name: "day", Schedule: "0 6 * * *", PricePerKWh: 0.3}}, "EUR", berlin)
	if err != nil {
		t.Fatal(err)
	}
	// 28/29 March 2026: clocks go forward, the night is an hour shorter.
	from := time.Date(2026, 3, 28, 12, 0, 0, 0, berlin)
	_, pieces, err := ts.PriceFunc(constantPower(1000), from, from.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(pieces) != 3 || pieces[1].Tariff != "night" {
		t.Fatalf("pieces %+v", pieces)
	}
	if d := pieces[1].To.Sub(pieces[1].From); d != 7*time.Hour {
		t.Errorf("night lasted %v, want 7h", d)
	}
}

// constantPower is an EnergyFunc for a steady draw.
func constantPower(watts float64) EnergyFunc {
	return func(a, b time.Time) (Result, error) {
		return Result{Joules: watts * b.Sub(a).Seconds(), Coverage: 1, Method: MethodWatts}, nil
	}
}

func TestTariffsPrice(t *testing.T) {
	ts := dayNight(t)
	// 1 kW from Wednesday 20:00 to Thursday 08:00: 2 kWh day, 8 kWh night,
	// 2 kWh day.
	from, to := local(25, 20, 0), local(26, 8, 0)
	s := wattsTrace(func(float64) float64 { return 1000 }, from.Sub(base).Seconds()-1, to.Sub(base).Seconds()+1, 1)
	cost, pieces, err := ts.Price(s, from, to, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(cost-(2*0.25+8*0.10+2*0.25)) > 1e-9 {
		t.Errorf("cost = %.12g, want 1.8", cost)
	}
	want := []struct {
		name     string
		from, to time.Time
	}{{"day", from, local(25, 22, 0)}, {"night", local(25, 22, 0), local(26, 6, 0)}, {"day", local(26, 6, 0), to}}
	if len(pieces) != len(want) {
		t.Fatalf("pieces %+v", pieces)
	}
	var joules, sum float64
	for i, w := range want {
		p := pieces[i]
		if p.Tariff != w.name || !p.From.Equal(w.from) || !p.To.Equal(w.to) {
			t.Errorf("piece %d = %s %v-%v, want %s %v-%v", i, p.Tariff, p.From, p.To, w.name, w.from, w.to)
		}
		joules += p.Energy.Joules
		sum += p.Cost
	}
	whole := mustIntegrate(t, s, from, to, Options{})
	if relErr(joules, whole.Joules) > 1e-12 || sum != cost {
		t.Errorf("pieces hold %g J and cost %g; whole window %g J, cost %g", joules, sum, whole.Joules, cost)
	}

	// One tariff: a week is one piece, not seven.
	flat, err := ParseTariffs([]Tariff{{Name: "flat", Schedule: "@daily", PricePerKWh: 0.2}}, "EUR", cet)
	if err != nil {
		t.Fatal(err)
	}
	cost, pieces, err = flat.PriceFunc(constantPower(1000), from, from.Add(7*24*time.Hour))
	if err != nil || len(pieces) != 1 || math.Abs(cost-7*24*0.2) > 1e-9 {
		t.Errorf("flat: cost %g, %d pieces, err %v", cost, len(pieces), err)
	}

	if _, _, err := ts.PriceFunc(constantPower(1), to, from); !errors.Is(err, ErrWindow) {
		t.Errorf("backwards window: err = %v", err)
	}
	boom := errors.New("boom")
	if _, _, err := ts.PriceFunc(func(time.Time, time.Time) (Result, error) { return Result{}, boom }, from, to); !errors.Is(err, boom) {
		t.Errorf("energy error: err = %v", err)
	}
	if _, _, err := ts.Price([]Sample{{Time: at(1)}, {Time: at(0)}}, at(0), at(1), Options{}); !errors.Is(err, ErrUnsorted) {
		t.Errorf("bad samples: err = %v", err)
	}
}

// Pricing a bursty job piece by piece: the pieces tile the window, each
// under the tariff in force, and their energy adds up to the window's.
func TestPropertyPricePieces(t *testing.T) {
	ts, err := ParseTariffs([]Tariff{
		{Name: "night", Schedule: "0 22 * * *", PricePerKWh: 0.10},
		{Name: "day", Schedule: "0 6 * * *", PricePerKWh: 0.25},
		{Name: "peak", Schedule: "30 17 * * 1-5", PricePerKWh: 0.40},
		{Name: "shoulder", Schedule: "15 */3 * * *", PricePerKWh: 0.20},
	}, "EUR", cet)
	if err != nil {
		t.Fatal(err)
	}
	r := rng(30)
	for i := range 20 {
		length := 3600 * (1 + 30*r.Float64())
		pr := bursty(r, length, 100, 400)
		s := sampleProfile(pr, r, 0, length, 1+4*r.Float64(), 0.1)
		a := length / 3 * r.Float64()
		b := a + (length-a)*r.Float64()
		cost, pieces, err := ts.Price(s, at(a), at(b), Options{Interval: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var joules, sum float64
		for k, p := range pieces {
			if k == 0 && !p.From.Equal(at(a)) || k == len(pieces)-1 && !p.To.Equal(at(b)) || k > 0 && !p.From.Equal(pieces[k-1].To) {
				t.Fatalf("trial %d: pieces do not tile the window: %d %v-%v", i, k, p.From, p.To)
			}
			if k > 0 && p.Tariff == pieces[k-1].Tariff {
				t.Fatalf("trial %d: adjacent pieces with the same tariff %s", i, p.Tariff)
			}
			if got := ts.At(p.From).Name; got != p.Tariff {
				t.Fatalf("trial %d: piece %d starts under %s, priced as %s", i, k, got, p.Tariff)
			}
			if got := ts.At(p.To.Add(-time.Nanosecond)).Name; got != p.Tariff {
				t.Fatalf("trial %d: piece %d ends under %s, priced as %s", i, k, got, p.Tariff)
			}
			joules += p.Energy.Joules
			sum += p.Cost
		}
		whole := mustIntegrate(t, s, at(a), at(b), Options{Interval: 5 * time.Second})
		if relErr(joules, whole.Joules) > 1e-9 || relErr(sum, cost) > 1e-12 {
			t.Fatalf("trial %d: pieces %g J (cost %g); window %g J (cost %g)", i, joules, sum, whole.Joules, cost)
		}
	}
}

func FuzzParseTariffs(f *testing.F) {
	f.Add("night", "0 22 * * *", "day", "0 6 * * *", 0.1, int64(0))
	f.Add("a", "@weekly", "b", "*/7 3-5 1,15 * 1-5", 2.0, int64(86400*40))
	f.Add("x", "0 25 * * *", "y", "@every 1h", -1.0, int64(-1))
	f.Add("leap", "0 0 29 2 *", "z", "59 23 31 12 *", 0.0, int64(3e8))
	f.Fuzz(func(t *testing.T, n1, s1, n2, s2 string, price float64, offset int64) {
		ts, err := ParseTariffs([]Tariff{{Name: n1, Schedule: s1, PricePerKWh: price}, {Name: n2, Schedule: s2, PricePerKWh: 1}}, "EUR", cet)
		if err != nil {
			if !errors.Is(err, ErrTariff) {
				t.Fatalf("error %v does not wrap ErrTariff", err)
			}
			return
		}
		from := base.Add(time.Duration(offset%(1<<40)) * time.Second)
		to := from.Add(48 * time.Hour)
		cost, pieces, err := ts.PriceFunc(constantPower(1000), from, to)
		if err != nil {
			t.Fatal(err)
		}
		if cost < 0 || math.IsNaN(cost) || len(pieces) == 0 {
			t.Fatalf("cost %g with %d pieces", cost, len(pieces))
		}
		for k, p := range pieces {
			if k > 0 && !p.From.Equal(pieces[k-1].To) || !p.To.After(p.From) {
				t.Fatalf("piece %d %v-%v does not follow %v", k, p.From, p.To, pieces[max(k-1, 0)].To)
			}
			if got := ts.At(p.From).Name; got != p.Tariff {
				t.Fatalf("piece %d starts under %s, priced as %s", k, got, p.Tariff)
			}
		}
		if !pieces[len(pieces)-1].To.Equal(to) {
			t.Fatalf("pieces end at %v, want %v", pieces[len(pieces)-1].To, to)
		}
	})
}
