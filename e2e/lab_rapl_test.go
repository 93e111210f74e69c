//go:build vlab

package e2e

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// TestLabRAPL: on a node whose BMC reads no power (vlab up --rapl), a job
// is billed from the agent's RAPL counter, which the lab emulates from the
// power model and mounts where bmcinit reads a real one, and the bill
// matches the package energy the lab counted: the boot too, as the counter
// restarts at 0 at the cold power-on; the counter wraps mid-run and the
// bill does not notice.
func TestLabRAPL(t *testing.T) {
	// Each power-on starts the counter at 0, as a cold boot resets it; a
	// 1.9 kJ range wraps it after the ~0.7 kJ boot, some seconds into the
	// run.
	const rangeUJ = 1_899_999_999
	t.Setenv("VLAB_RAPL_RANGE_UJ", strconv.FormatUint(rangeUJ, 10))
	l := labUp(t, 1, 700, "--rapl", "1")
	nodes, err := os.ReadFile(filepath.Join(l.dir, "nodes.toml"))
	if err != nil || !strings.Contains(string(nodes), `power_meter = "none"`) || strings.Contains(string(nodes), "power_sensor") {
		t.Fatalf("nodes.toml does not turn vnode1's BMC meter off (%v):\n%s", err, nodes)
	}
	pkgFile := filepath.Join(l.dir, "node1", "package_joules")
	pkg := recordTruth(t, pkgFile)
	wall := recordTruth(t, filepath.Join(l.dir, "node1", "energy_joules"))
	work := workDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := l.client()

	id := l.submit(work, l.job("rapl", "", `command = "`+raplBusy(40)+`"`))
	l.waitFor(ctx, id, state(job.Completed))
	list, err := c.Acct(ctx, api.AcctFilter{IDs: []string{id}, Entries: true})
	if err != nil || len(list.Jobs) != 1 {
		t.Fatalf("acct %s: %v %+v", id, err, list)
	}
	a := list.Jobs[0]
	pr, wr := settleRows(pkg, a.End), settleRows(wall, a.End)
	for _, e := range a.Entries {
		truth := truthAt(t, pr, e.End) - truthAt(t, pr, e.Start)
		t.Logf("%s: billed %.1f J (%s, %d readings, estimated=%v %v), package truth %.1f J over %.1fs",
			e.Phase, e.Joules, e.Method, e.Samples, e.EnergyEstimated, e.Reasons, truth, e.Duration)
		if e.Method != "rapl" {
			t.Errorf("%s billed by %q, want rapl (the agent's counter)", e.Phase, e.Method)
		}
		for _, r := range e.Reasons {
			if strings.Contains(r, "no power samples in the first") {
				t.Errorf("%s extrapolated, not measured from the counter's 0 at power-on: %s", e.Phase, r)
			}
		}
		if e.Phase != "run" {
			continue
		}
		// Between heartbeats the counter is exact; the run's edges fall
		// between two of them (10 s apart) and are interpolated, exact too
		// for a steady load. A wrap taken for a reset would lose ~1 kJ.
		if errPct := 100 * (e.Joules - truth) / truth; math.Abs(errPct) > 1 {
			t.Errorf("run billed %.1f J, the package used %.1f J: %+.2f %% (limit 1 %%)", e.Joules, truth, errPct)
		}
		for _, r := range e.Reasons {
			if strings.Contains(r, "reset") {
				t.Errorf("the wrap was taken for a reset: %s", r)
			}
		}
	}
	pkgTruth := truthAt(t, pr, a.End) - truthAt(t, pr, a.Start)
	wallTruth := truthAt(t, wr, a.End) - truthAt(t, wr, a.Start)
	t.Logf("job %s: billed %.1f J, package %.1f J (%+.2f %%), wall %.1f J (the package is %.0f %% of it)",
		id, a.EnergyJoules, pkgTruth, 100*(a.EnergyJoules-pkgTruth)/pkgTruth, wallTruth, 100*pkgTruth/wallTruth)
	// The agent's first reading comes with Ready, the boot nearly over;
	// the counter restarted at 0 at the power-on, so that reading is the
	// boot's energy (it was extrapolated from the first rate before: +15 %
	// for this job). The goal: ±1 % from 60 s, ±3 % below.
	limit := 3.0
	if a.End.Sub(a.Start) >= time.Minute {
		limit = 1
	}
	if errPct := 100 * (a.EnergyJoules - pkgTruth) / pkgTruth; math.Abs(errPct) > limit {
		t.Errorf("billed %.1f J over %s, the package used %.1f J: %+.2f %% (limit %.0f %%)", a.EnergyJoules, a.End.Sub(a.Start), pkgTruth, errPct, limit)
	}
	if !(pkgTruth < 0.8*wallTruth) {
		t.Errorf("package %.1f J of a machine's %.1f J: RAPL should see only part of the wall power", pkgTruth, wallTruth)
	}
	// Unwrapped, the counter would stand at the package's energy since
	// the power-on.
	if uj := readUint(t, filepath.Join(l.dir, "node1", "rapl", "intel-rapl:0", "energy_uj")); float64(uj)/1e6 > pkgTruth-100 {
		t.Errorf("energy_uj %d after a job of %.0f J: the counter did not wrap (range %d)", uj, pkgTruth, uint64(rangeUJ))
	}
}

// raplBusy is a job command that keeps the CPU busy for secs seconds.
func raplBusy(secs int) string {
	return "end=$(( $(date +%s) + " + strconv.Itoa(secs) + " )); while [ $(date +%s) -lt $end ]; do :; done"
}

// settleRows waits (up to 5 s) for a truth log to pass end, and returns it.
func settleRows(rows func() []truthRow, end time.Time) []truthRow {
	for deadline := time.Now().Add(5 * time.Second); ; {
		if r := rows(); len(r) > 0 && r[len(r)-1].t.After(end) || time.Now().After(deadline) {
			return r
		}
		<-time.After(100 * time.Millisecond) // the lab's 50 Hz counter writer
	}
}

func readUint(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func readFloat(t *testing.T, path string) float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}
