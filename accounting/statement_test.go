package accounting

import (
	"math"
	"testing"
	"time"
)

// A job that runs across midnight at the end of November is split there:
// the November and December statements add up to its bill, by its power
// curve, and each part is priced at its own tariff pieces.
func TestStatementSplitsAtTheMonthBoundary(t *testing.T) {
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	jan := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	start := dec.Add(-time.Hour)
	// 100 W for the hour before midnight, 300 W for the hour after.
	curve := []Sample{{Time: start, Watts: 100}, {Time: dec.Add(-time.Nanosecond), Watts: 100}, {Time: dec, Watts: 300}, {Time: dec.Add(time.Hour), Watts: 300}}
	run := Entry{
		Facts: Facts{Job: 7, JobID: "7", Boot: 1, Name: "long", User: "ann", Account: "physics"}, Phase: Run,
		Start: start, End: dec.Add(time.Hour), Joules: 400 * 3600, Currency: "EUR", CarbonGrams: 40,
		Pieces: []EntryPiece{
			{Tariff: "old", PricePerKWh: 0.2, From: start, To: dec, Joules: 100 * 3600, Cost: 0.02},
			{Tariff: "new", PricePerKWh: 0.4, From: dec, To: dec.Add(time.Hour), Joules: 300 * 3600, Cost: 0.12},
		},
	}
	other := Entry{Facts: Facts{Job: 8, JobID: "8", Boot: 1, User: "bob", Account: "physics"}, Phase: Run,
		Start: nov.Add(time.Hour), End: nov.Add(2 * time.Hour), Joules: 1000, Cost: 0.5, Currency: "EUR"}
	credited := Entry{Facts: Facts{Job: 9, JobID: "9", Boot: 1, User: "bob", Account: "physics"}, Phase: Boot,
		Start: nov.Add(3 * time.Hour), End: nov.Add(4 * time.Hour), Joules: 500, Cost: 0.1, Credited: true, CreditReason: "node failed"}
	curves := map[[2]uint64][]Sample{{7, 1}: curve}
	es := []Entry{run, other, credited}

	n := BuildStatement(es, curves, nov, dec)
	d := BuildStatement(es, curves, dec, jan)
	if len(n.Users) != 2 || n.Users[0].User != "ann" || len(d.Users) != 1 {
		t.Fatalf("November %+v, December %+v", n.Users, d.Users)
	}
	nj, dj := n.Users[0].Jobs[0], d.Users[0].Jobs[0]
	if math.Abs(nj.Joules-100*3600) > 1e-6 || math.Abs(dj.Joules-300*3600) > 1e-6 {
		t.Errorf("split %g J + %g J, want 360000 + 1080000 by the curve", nj.Joules, dj.Joules)
	}
	if math.Abs(nj.Joules+dj.Joules-run.Joules) > 1e-6 || !nj.Split || nj.SplitBy != "curve" {
		t.Errorf("parts do not add up: %g + %g vs %g (%+v)", nj.Joules, dj.Joules, run.Joules, nj)
	}
	if math.Abs(nj.Cost-0.02) > 1e-12 || math.Abs(dj.Cost-0.12) > 1e-12 || len(dj.Tariffs) != 1 || dj.Tariffs[0].Tariff != "new" {
		t.Errorf("cost %g / %g, tariffs %+v", nj.Cost, dj.Cost, dj.Tariffs)
	}
	if math.Abs(nj.CarbonGrams+dj.CarbonGrams-40) > 1e-9 {
		t.Errorf("grams %g + %g, want 40", nj.CarbonGrams, dj.CarbonGrams)
	}
	bob := n.Users[1]
	if bob.Totals.Joules != 1000 || bob.Totals.CreditedJoules != 500 || bob.Totals.Cost != 0.5 || bob.Totals.CreditedCost != 0.1 || bob.Totals.Jobs != 2 {
		t.Errorf("bob: %+v", bob.Totals)
	}
	if got := n.Totals.Joules + d.Totals.Joules; math.Abs(got-(run.Joules+other.Joules)) > 1e-6 {
		t.Errorf("two months bill %g J, the ledger %g J", got, run.Joules+other.Joules)
	}
	// Without a curve, by time.
	n2 := BuildStatement([]Entry{run}, nil, nov, dec)
	if j := n2.Users[0].Jobs[0]; j.SplitBy != "time" || math.Abs(j.Joules-200*3600) > 1e-6 {
		t.Errorf("no curve: %+v", j)
	}
}

func TestDecayedHalvesEveryHalfLife(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	d := Decayed{}.Add(1000, t0, week)
	if v := d.ValueAt(t0.Add(week), week); math.Abs(v-500) > 1e-9 {
		t.Errorf("after a half-life: %g", v)
	}
	d = d.Add(500, t0.Add(week), week)
	if v := d.ValueAt(t0.Add(2*week), week); math.Abs(v-500) > 1e-9 {
		t.Errorf("(500 + 500) after another half-life: %g", v)
	}
	// Late usage is aged by its own time.
	late := Decayed{}.Add(100, t0.Add(week), week).Add(100, t0, week)
	if v := late.ValueAt(t0.Add(week), week); math.Abs(v-150) > 1e-9 {
		t.Errorf("late usage: %g, want 150", v)
	}
}
