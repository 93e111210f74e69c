package scheduler

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// renderPlan writes a plan as sorted text, one decision a line, so a change
// in any decision shows up as a readable diff.
func renderPlan(b *strings.Builder, s *Snapshot, p Plan) {
	for _, a := range p.Assignments {
		fmt.Fprintf(b, "assign job %d -> %s backfilled=%v: %s\n", a.JobID, a.Node, a.Backfilled, a.Why)
	}
	var ids []uint64
	for _, j := range s.Jobs {
		if j.State.Waiting() {
			ids = append(ids, j.ID)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if r, ok := p.Reasons[id]; ok {
			fmt.Fprintf(b, "wait   job %d prio %.1f: %s\n", id, p.Priority[id], r)
		}
	}
	for id, at := range p.Reservation {
		fmt.Fprintf(b, "reserve job %d at %s\n", id, at.Format(time.RFC3339))
	}
}

// TestPlanGolden pins whole plans for a few generated snapshots. Run
// `go test ./scheduler -run PlanGolden -update` after an intended change and
// read the diff.
func TestPlanGolden(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	var b strings.Builder
	for i := range 4 {
		s := genSnapshot(r)
		for _, backfill := range []bool{false, true} {
			fmt.Fprintf(&b, "## snapshot %d, %d nodes, %d jobs, backfill=%v\n", i, len(s.Nodes), len(s.Jobs), backfill)
			renderPlan(&b, s, Schedule(s, testCfg(backfill)))
		}
	}
	path := filepath.Join("testdata", "plans.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			g, w := "", ""
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("plans differ from %s at line %d:\n got %s\nwant %s", path, i+1, g, w)
			}
		}
	}
}
