package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
)

// TestAcctThroughTheBinaries bills two simulated jobs of different load
// with a tariff file and reads them back with bmcq acct in each format.
func TestAcctThroughTheBinaries(t *testing.T) {
	dir := workDir(t)
	state := t.TempDir()
	tariffs := filepath.Join(state, "tariffs.toml")
	write(t, tariffs, "currency = \"EUR\"\n[[tariff]]\nname = \"flat\"\nschedule = \"@daily\"\nprice_per_kwh = 0.25\n")
	d := startDaemon(t, state, "--nodes", fastSimNodes(t, t.TempDir(), 1), "--tariffs", tariffs, "--power-interval", "100ms")
	job := func(name string, load float64) string {
		return fmt.Sprintf("name = %q\nimage = \"busybox:1.36\"\ncommand = \"true\"\naccount = \"physics\"\ntime_limit = \"10:00\"\n[sim]\nruntime = \"2s\"\nload = %g\n", name, load)
	}
	write(t, filepath.Join(dir, "heavy.toml"), job("heavy", 1))
	write(t, filepath.Join(dir, "light.toml"), job("light", 0))
	for _, f := range []string{"heavy.toml", "light.toml"} {
		if r := d.run(0, dir, "bmcsubmit", "--wait", f); r.code != 0 {
			t.Fatalf("%s: exit %d %s", f, r.code, r.stderr)
		}
	}
	r := d.run(0, dir, "bmcq", "acct", "--json")
	var out struct {
		api.AcctList
		Totals struct {
			Jobs         int     `json:"jobs"`
			EnergyJoules float64 `json:"energy_joules"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Jobs) != 2 {
		t.Fatalf("bmcq acct --json: %v (%d jobs) %s %s", err, len(out.Jobs), r.stdout, r.stderr)
	}
	heavy, light := out.Jobs[0], out.Jobs[1]
	if heavy.RunJoules < 2*light.RunJoules {
		t.Errorf("heavy run %.1f J, light run %.1f J (model: 200 W vs 50 W)", heavy.RunJoules, light.RunJoules)
	}
	for _, j := range out.Jobs {
		if math.Abs(j.BootJoules+j.RunJoules+j.OffJoules-j.EnergyJoules) > 1e-6 {
			t.Errorf("job %s: phases do not add up to %.3f J", j.JobID, j.EnergyJoules)
		}
		if want := j.EnergyJoules / accounting.JoulesPerKWh * 0.25; math.Abs(j.Cost-want) > 1e-12 || j.Currency != "EUR" {
			t.Errorf("job %s: cost %g %s, want %g EUR", j.JobID, j.Cost, j.Currency, want)
		}
		if j.Account != "physics" || j.Kind == "" || j.Image != "busybox:1.36" {
			t.Errorf("job %s lacks facts: %+v", j.JobID, j)
		}
	}
	if out.Totals.Jobs != 2 || math.Abs(out.Totals.EnergyJoules-heavy.EnergyJoules-light.EnergyJoules) > 1e-6 {
		t.Errorf("totals: %+v", out.Totals)
	}
	table := d.run(0, dir, "bmcq", "acct", "-A", "physics", "--format", "JobID,JobName,EnergyJ,Cost")
	if table.code != 0 || !strings.Contains(table.stdout, "TOTAL(2)") || !strings.Contains(table.stdout, "cost in EUR") {
		t.Errorf("bmcq acct table: %s %s", table.stdout, table.stderr)
	}
	csv := d.run(0, dir, "bmcq", "acct", "--csv", "-u", "nobody")
	if csv.code != 0 || strings.TrimSpace(csv.stdout) != "JobID,JobName,User,Account,State,Node,Kind,Elapsed,BootJ,RunJ,OffJ,EnergyJ,Meter,Cost,Est" {
		t.Errorf("csv for a user with no jobs: %q %s", csv.stdout, csv.stderr)
	}
	cmp := d.run(0, dir, "bmcq", "acct", "--compare")
	if cmp.code != 0 || !strings.Contains(cmp.stdout, "MEAN_J") {
		t.Errorf("--compare: %s %s", cmp.stdout, cmp.stderr)
	}
	svg := filepath.Join(dir, "heavy.svg")
	plot := d.run(0, dir, "bmcq", "acct", "-j", heavy.JobID, "--plot", "--svg", svg)
	if plot.code != 0 || !strings.Contains(plot.stdout, "phase  b") {
		t.Errorf("--plot: %s %s", plot.stdout, plot.stderr)
	}
	if b, err := os.ReadFile(svg); err != nil || !strings.Contains(string(b), "<polyline") {
		t.Errorf("--svg wrote %d bytes: %v", len(b), err)
	}
	if bad := d.run(0, dir, "bmcq", "acct", "-S", "yesterday"); bad.code != 1 || !strings.Contains(bad.stderr, "--starttime") {
		t.Errorf("bad -S: exit %d %q", bad.code, bad.stderr)
	}
}
