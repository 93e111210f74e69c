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
	"github.com/bmc-sched/bmc/scripts/vlabmeter"
)

// TestLabRAPL: on a node whose BMC reads no power (vlab up --rapl), a job
// is billed from the agent's RAPL counter, which the lab emulates from the
// power model and mounts where bmcinit reads a real one, and the bill
// matches the package energy the lab counted; the counter wraps mid-run
// and the bill does not notice. Then a job freezes its own counter, as a
// job (root on its machine) may: the lab shows the frozen value while the
// package's true energy goes on.
func TestLabRAPL(t *testing.T) {
	// Each power-on starts the counter 1.2 kJ before its wrap: past it
	// after the ~0.7 kJ boot, some seconds into the run.
	start := vlabmeter.DefaultRAPLRange - 1_200_000_000
	t.Setenv("VLAB_RAPL_START_UJ", strconv.FormatUint(start, 10))
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
	// The boot is not seen in-band (the agent's first reading comes with
	// Ready): the controller extrapolates it from the first rate, here the
	// busy run's, above the boot's mean; measured +15.07 % (a 28 s boot of
	// a 40 s job), the run phase alone +0.07 %. bench/README.md says what
	// would close it.
	if errPct := 100 * (a.EnergyJoules - pkgTruth) / pkgTruth; math.Abs(errPct) > 25 {
		t.Errorf("billed %.1f J, the package used %.1f J: %+.2f %% (limit 25 %%: the boot is extrapolated)", a.EnergyJoules, pkgTruth, errPct)
	}
	if !(pkgTruth < 0.8*wallTruth) {
		t.Errorf("package %.1f J of a machine's %.1f J: RAPL should see only part of the wall power", pkgTruth, wallTruth)
	}
	if uj := readUint(t, filepath.Join(l.dir, "node1", "rapl", "intel-rapl:0", "energy_uj")); uj > start {
		t.Errorf("energy_uj %d after the job: the counter did not wrap (started at %d)", uj, start)
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
