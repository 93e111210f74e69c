package accounting

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const tariffText = `currency = "EUR"
timezone = "Europe/Paris"
[[tariff]]
name = "day"
schedule = "0 7 * * *"
price_per_kwh = 0.30
[[tariff]]
name = "night"
schedule = "0 22 * * *"
price_per_kwh = 0.12
[[tariff]]
name = "day"
schedule = "0 7 * * *"
price_per_kwh = 0.34
effective = 2026-12-01
[[carbon]]
name = "grid"
schedule = "0 0 * * *"
g_per_kwh = 300
[[carbon]]
name = "solar"
schedule = "0 10 * * *"
g_per_kwh = 80
[[carbon]]
name = "evening"
schedule = "0 16 * * *"
g_per_kwh = 300
`

func TestParseTariffFile(t *testing.T) {
	ts, carbon, err := ParseTariffFile("t.toml", []byte(tariffText))
	if err != nil {
		t.Fatal(err)
	}
	paris := ts.Location()
	if ts.Currency() != "EUR" || paris.String() != "Europe/Paris" {
		t.Errorf("currency %q zone %v", ts.Currency(), paris)
	}
	for _, c := range []struct {
		at    time.Time
		name  string
		price float64
	}{
		{time.Date(2026, 11, 30, 23, 0, 0, 0, paris), "night", 0.12},
		{time.Date(2026, 11, 30, 12, 0, 0, 0, paris), "day", 0.30},
		{time.Date(2026, 12, 1, 12, 0, 0, 0, paris), "day", 0.34}, // the new price, from its date on
		{time.Date(2026, 12, 1, 0, 30, 0, 0, paris), "night", 0.12},
	} {
		if got := ts.At(c.at); got.Name != c.name || got.PricePerKWh != c.price {
			t.Errorf("At(%v) = %+v, want %s at %g", c.at, got, c.name, c.price)
		}
	}
	if g, ok := carbon.At(time.Date(2026, 11, 30, 11, 0, 0, 0, paris)); !ok || g != 80 {
		t.Errorf("carbon at 11:00 = %g %v, want 80", g, ok)
	}
	for name, text := range map[string]string{
		"unknown key":      "currency = \"EUR\"\nprice = 3\n",
		"bad cron":         "[[tariff]]\nname = \"x\"\nschedule = \"61 * * * *\"\nprice_per_kwh = 1\n",
		"old quotas":       "[[account]]\nname = \"a\"\nquota_kwh = 1\n",
		"bad zone":         "timezone = \"Mars/Olympus\"\n",
		"not toml":         "[[tariff\n",
		"toml panic":       "[[tariff]]\nname = \"a\"\nschedule = \"@daily\"\nprice_per_kwh = +A",
		"effective string": "[[tariff]]\nname = \"a\"\nschedule = \"@daily\"\neffective = \"soon\"\n",
		"effective twice":  "[[tariff]]\nname = \"a\"\nschedule = \"@daily\"\neffective = 2026-12-01\n[[tariff]]\nname = \"a\"\nschedule = \"@daily\"\neffective = 2026-12-01\n",
		"negative carbon":  "[[carbon]]\nname = \"a\"\nschedule = \"@daily\"\ng_per_kwh = -1\n",
		"carbon no sched":  "[[carbon]]\nname = \"a\"\ng_per_kwh = 1\n",
	} {
		if _, _, err := ParseTariffFile("t.toml", []byte(text)); !errors.Is(err, ErrTariffFile) {
			t.Errorf("%s: err = %v, want ErrTariffFile", name, err)
		}
	}
	_, _, err = ParseTariffFile("t.toml", []byte("[[account]]\nname = \"a\"\nquota_kwh = 1\n"))
	if err == nil || !strings.Contains(err.Error(), "bmcq account modify NAME --energy-limit") {
		t.Errorf("old quota section: %v", err)
	}
}

func FuzzParseTariffFile(f *testing.F) {
	f.Add([]byte(tariffText))
	f.Add([]byte("[[tariff]]\nname = \"a\"\nschedule = \"@daily\"\nprice_per_kwh = 0\n"))
	f.Add([]byte("[[tariff]]\nname = \"a\"\nschedule = \"@daily\"\neffective = 2026-12-01T06:00:00+01:00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, carbon, err := ParseTariffFile("f.toml", data)
		if err != nil {
			if !errors.Is(err, ErrTariffFile) {
				t.Fatalf("error not wrapped: %v", err)
			}
			return
		}
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if ts != nil {
			if p := ts.At(at).PricePerKWh; !(p >= 0) {
				t.Fatalf("price %g accepted", p)
			}
		}
		if carbon != nil {
			if g, ok := carbon.At(at); ok && !(g >= 0) {
				t.Fatalf("intensity %g accepted", g)
			}
		}
	})
}
