package bmcq

import (
	"bytes"
	"testing"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
)

// The advice as bmcq prints it; accounting's own tests cover the rules
// (runs of one digest across references and architectures, failed runs
// left out, cheapest in joules apart from cheapest in money).
func TestCompareAdvice(t *testing.T) {
	list := load[api.AcctList](t, "compare.json")
	rows := accounting.Compare(usage(list.Jobs))
	var b bytes.Buffer
	if err := RenderCompare(&b, rows); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare.txt", b.Bytes())

	type want struct {
		kind, cmd          string
		runs               int
		joules, secs, edp  float64
		cheapJ, cheapMoney bool
	}
	// In application order: the key is the digest, or the reference without one.
	wants := []want{
		{"sim-x86", "app run", 1, 900, 3, 2700, true, false},   // oci:other, no digest
		{"sim-arm", "app check", 1, 500, 5, 2500, true, false}, // unpriced: no money mark
		{"sim-arm", "app run", 1, 2000, 40, 80000, true, false},
		{"sim-x86", "app run", 2, 3100, 11, 34100, false, true},
	}
	if len(rows) != len(wants) {
		t.Fatalf("rows: %+v", rows)
	}
	for i, w := range wants {
		r := rows[i]
		if r.Kind != w.kind || r.Command != w.cmd || r.Runs != w.runs || r.MeanJoules != w.joules ||
			r.MeanRunSecs != w.secs || r.EDP != w.edp || r.CheapestJoules != w.cheapJ || r.CheapestMoney != w.cheapMoney {
			t.Errorf("row %d: got %+v, want %+v", i, r, w)
		}
	}
}
