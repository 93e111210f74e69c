package accounting

import (
	"errors"
	"math"
	"testing"
	"time"
)

const tariffText = `currency = "EUR"
[[tariff]]
name = "day"
schedule = "0 7 * * *"
price_per_kwh = 0.30
[[tariff]]
name = "night"
schedule = "0 22 * * *"
price_per_kwh = 0.12
[[account]]
name = "physics"
quota_kwh = 50
`

func TestParseTariffFile(t *testing.T) {
	ts, q, err := ParseTariffFile("t.toml", []byte(tariffText))
	if err != nil {
		t.Fatal(err)
	}
	if ts.Currency() != "EUR" || q["physics"] != 50 {
		t.Errorf("currency %q quotas %v", ts.Currency(), q)
	}
	if got := ts.At(time.Date(2026, 1, 1, 23, 0, 0, 0, time.UTC)).Name; got != "night" {
		t.Errorf("23:00 is %s", got)
	}
	for name, text := range map[string]string{
		"unknown key":    "currency = \"EUR\"\nprice = 3\n",
		"bad cron":       "[[tariff]]\nname = \"x\"\nschedule = \"61 * * * *\"\nprice_per_kwh = 1\n",
		"negative quota": "[[account]]\nname = \"a\"\nquota_kwh = -1\n",
		"nameless":       "[[account]]\nquota_kwh = 1\n",
		"twice":          "[[account]]\nname = \"a\"\n[[account]]\nname = \"a\"\n",
		"bad zone":       "timezone = \"Mars/Olympus\"\n",
		"not toml":       "[[tariff\n",
		"toml panic":     "[[tariff]]\nname = \"a\"\nschedule = \"@daily\"\nprice_per_kwh = +A",
	} {
		if _, _, err := ParseTariffFile("t.toml", []byte(text)); !errors.Is(err, ErrTariffFile) {
			t.Errorf("%s: err = %v, want ErrTariffFile", name, err)
		}
	}
}

func FuzzParseTariffFile(f *testing.F) {
	f.Add([]byte(tariffText))
	f.Add([]byte("[[tariff]]\nname = \"a\"\nschedule = \"@daily\"\nprice_per_kwh = 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, q, err := ParseTariffFile("f.toml", data)
		if err != nil {
			if !errors.Is(err, ErrTariffFile) {
				t.Fatalf("error not wrapped: %v", err)
			}
			return
		}
		for _, v := range q {
			if v < 0 || math.IsNaN(v) {
				t.Fatalf("quota %g accepted", v)
			}
		}
		if ts != nil {
			ts.At(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		}
	})
}
