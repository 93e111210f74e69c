package accounting

import (
	"testing"
	"time"
	_ "time/tzdata" // the zones are in the test, whatever the machine has
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// A window that starts in the hour the spring change skips starts when the
// gap ends; one in the hour the autumn change repeats starts once. Both for
// tariffs and for carbon windows, in Paris and New York.
func TestWindowsAcrossDST(t *testing.T) {
	paris, ny := mustZone(t, "Europe/Paris"), mustZone(t, "America/New_York")
	for _, tc := range []struct {
		name             string
		loc              *time.Location
		offpeak          string // cron of the cheap, clean window
		from             time.Time
		wantStart        time.Time // when the off-peak window starts that night (the first 02:30 in autumn is summer time)
		wantLen          time.Duration
		wantPiecesPerDay int
	}{
		{"Paris spring: 02:30 skipped, off-peak from 03:00 CEST", paris, "30 2 * * *",
			time.Date(2026, 3, 28, 12, 0, 0, 0, paris), time.Date(2026, 3, 29, 3, 0, 0, 0, paris), 3 * time.Hour, 3},
		{"Paris autumn: 02:30 repeated, off-peak starts once", paris, "30 2 * * *",
			time.Date(2026, 10, 24, 12, 0, 0, 0, paris), time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), 4*time.Hour + 30*time.Minute, 3},
		{"New York spring: 02:15 skipped, off-peak from 03:00 EDT", ny, "15 2 * * *",
			time.Date(2026, 3, 7, 12, 0, 0, 0, ny), time.Date(2026, 3, 8, 3, 0, 0, 0, ny), 3 * time.Hour, 3},
		{"New York autumn: 01:30 repeated, off-peak starts once", ny, "30 1 * * *",
			time.Date(2026, 10, 31, 12, 0, 0, 0, ny), time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), 5*time.Hour + 30*time.Minute, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := ParseTariffs([]Tariff{
				{Name: "peak", Schedule: "0 6 * * *", PricePerKWh: 0.30},
				{Name: "offpeak", Schedule: tc.offpeak, PricePerKWh: 0.10},
			}, "EUR", tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			_, pieces, err := ts.PriceFunc(constantPower(1000), tc.from, tc.from.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if len(pieces) != tc.wantPiecesPerDay || pieces[1].Tariff != "offpeak" {
				t.Fatalf("pieces %+v", pieces)
			}
			off := pieces[1]
			if !off.From.Equal(tc.wantStart) || off.To.Sub(off.From) != tc.wantLen {
				t.Errorf("off-peak %v for %v, want from %v for %v", off.From.In(tc.loc), off.To.Sub(off.From), tc.wantStart, tc.wantLen)
			}
			// The energy is priced whole: every second once.
			var j float64
			for _, p := range pieces {
				j += p.Energy.Joules
			}
			if j != 1000*24*3600 {
				t.Errorf("priced %g J of %g", j, 1000.0*24*3600)
			}

			carbon, err := NewCarbon([]CarbonWindow{
				{Name: "fossil", Schedule: "0 6 * * *", GPerKWh: 400},
				{Name: "wind", Schedule: tc.offpeak, GPerKWh: 50},
			}, tc.loc, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, probe := range []struct {
				at   time.Time
				want float64
			}{{tc.wantStart.Add(-time.Second), 400}, {tc.wantStart, 50}, {tc.wantStart.Add(tc.wantLen - time.Second), 50}, {tc.wantStart.Add(tc.wantLen), 400}} {
				if g, ok := carbon.At(probe.at); !ok || g != probe.want {
					t.Errorf("carbon at %v = %g, want %g", probe.at.In(tc.loc), g, probe.want)
				}
			}
		})
	}
}
