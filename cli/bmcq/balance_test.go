package bmcq

import (
	"bytes"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
)

func TestRenderBalanceAndDisputes(t *testing.T) {
	from := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	b := api.Balance{From: from, To: to, Nodes: []api.NodeBalance{
		{Node: "n1", From: from, To: to, Meter: "dcmi", MeteredJoules: 360000, BilledJoules: 300000, UnbilledJoules: 50000,
			UnbilledByReason: map[string]float64{"power-off-failed": 40000, "idle-on": 10000}, StandbyJoules: 9000, ResidualJoules: 1000},
		{Node: "n2", From: from, To: to, Meter: "redfish-counter", MeteredJoules: 36000, StandbyJoules: 36000, UnbilledByReason: map[string]float64{}},
	}, Total: api.NodeBalance{Node: "total", MeteredJoules: 396000, BilledJoules: 300000, UnbilledJoules: 50000,
		UnbilledByReason: map[string]float64{"power-off-failed": 40000, "idle-on": 10000}, StandbyJoules: 45000, ResidualJoules: 1000, Estimated: true}}
	var out bytes.Buffer
	if err := RenderBalance(&out, b); err != nil {
		t.Fatal(err)
	}
	s := api.JobSamples{Job: 7, Boots: []api.BootSamples{{Boot: 1, Node: "n1", Meter: "model", Samples: []api.Sample{
		{Time: from, Watts: 90, Joules: 1000, Counter: true}, {Time: from.Add(time.Second), Watts: 250, Joules: 1170, Counter: true}}},
		{Boot: 2, Node: "n2", RAPL: true, Samples: []api.Sample{{Time: to, Watts: 0, Joules: 5, Counter: true}}}}}
	if err := RenderSamples(&out, s); err != nil {
		t.Fatal(err)
	}
	r := api.Recompute{Job: 7, Entries: []api.RecomputeEntry{
		{Boot: 1, Phase: "boot", BilledJoules: 270, RecomputedJoules: 270, BilledCost: 0.01, RecomputedCost: 0.01},
		{Boot: 1, Phase: "run", BilledJoules: 5000, RecomputedJoules: 5000.5, DiffJoules: 0.5},
		{Boot: 2, Phase: "boot", BilledJoules: 10, Missing: "no readings kept"},
	}}
	if err := RenderRecompute(&out, r); err != nil {
		t.Fatal(err)
	}
	golden(t, "balance.txt", out.Bytes())
}
