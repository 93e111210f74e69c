package ctld

import (
	"math"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/job"
)

// A job that runs across the 22:00 change is priced piece by piece.
func TestJobSpanningTariffWindowsIsPricedPieceByPiece(t *testing.T) {
	ts, err := accounting.ParseTariffs([]accounting.Tariff{
		{Name: "day", Schedule: "0 7 * * *", PricePerKWh: 0.30},
		{Name: "night", Schedule: "0 22 * * *", PricePerKWh: 0.12},
	}, "EUR", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, 1, func(h *harness) {
		h.clk.Set(time.Date(2026, 11, 25, 21, 59, 50, 0, time.UTC))
		h.cfg.Energy.Tariffs = ts
	})
	id := h.submit(alice, loadSpec(20*time.Second, 1))[0]
	h.waitState(id, job.Completed)
	for _, e := range h.ledger(id) {
		if e.Phase != "run" {
			continue
		}
		if e.Tariff != "day+night" || len(e.Pieces) != 2 {
			t.Fatalf("run phase priced as %q in %d pieces", e.Tariff, len(e.Pieces))
		}
		want := 0.0
		for _, p := range e.Pieces {
			want += p.Joules / accounting.JoulesPerKWh * p.PricePerKWh
		}
		if math.Abs(e.Cost-want) > 1e-12 || e.Currency != "EUR" || e.Cost <= 0 {
			t.Errorf("cost %g %s, pieces sum to %g", e.Cost, e.Currency, want)
		}
		day, night := e.Pieces[0], e.Pieces[1]
		if !day.To.Equal(time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)) || day.Tariff != "day" || night.Tariff != "night" {
			t.Errorf("pieces: %+v", e.Pieces)
		}
		return
	}
	t.Fatal("no run entry")
}
