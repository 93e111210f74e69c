//go:build vlab

package e2e

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// redfishOff shifts this test's lab ports away from the other lab tests'.
const redfishOff = 600

// TestLabRedfish brings a node up behind the lab's Redfish BMC. Debian's
// redfishtool reads its power state and power reading and switches it on
// and off; then bmcctld runs a job on it through bmclib/gofish, and the job
// is billed from the BMC's readings, close to the lab's truth.
func TestLabRedfish(t *testing.T) {
	l := labUp(t, 1, redfishOff, "--redfish", "1")
	truth := recordTruth(t, filepath.Join(l.dir, "node1", "energy_joules"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := exec.LookPath("redfishtool"); err != nil {
		t.Fatalf("redfishtool is required (apt-get install -y redfishtool): %v", err)
	}
	nodes, err := os.ReadFile(filepath.Join(l.dir, "nodes.toml"))
	if err != nil || !strings.Contains(string(nodes), `protocol = "redfish"`) || !strings.Contains(string(nodes), "insecure = true") {
		t.Fatalf("nodes.toml does not put vnode1 behind Redfish (%v):\n%s", err, nodes)
	}
	pass, err := os.ReadFile(filepath.Join(l.dir, "node1", "bmc.pass"))
	if err != nil {
		t.Fatal(err)
	}
	rf := func(args ...string) map[string]any {
		t.Helper()
		base := []string{"-r", "127.0.0.1:" + strconv.Itoa(19001+redfishOff), "-u", "admin",
			"-p", strings.TrimSpace(string(pass)), "-S", "Always", "-T", "10"}
		out, err := l.command(ctx, "redfishtool", append(base, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redfishtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		var d map[string]any
		if i := strings.Index(string(out), "{"); i >= 0 {
			if err := json.Unmarshal(out[i:], &d); err != nil {
				t.Fatalf("redfishtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		return d
	}
	powerState := func() string { return rf("Systems", "-1", "get")["PowerState"].(string) }
	if st := powerState(); st != "Off" {
		t.Fatalf("PowerState = %s before power on", st)
	}
	// Off is not 0 W: the sensor shows the standby draw.
	pc := rf("Chassis", "-1", "getPowerReading")
	t.Logf("power reading while off: %v", pc)
	env := rf("raw", "GET", "/redfish/v1/Chassis/1/EnvironmentMetrics")
	kwh0 := env["EnergykWh"].(map[string]any)["Reading"].(float64)
	if kwh0 < 20_000 || kwh0 > 20_001 {
		t.Errorf("EnergykWh = %v, want the 20 MWh lifetime counter", kwh0)
	}
	rf("Systems", "-1", "reset", "On")
	if st := powerState(); st != "On" {
		t.Fatalf("PowerState = %s after reset On", st)
	}
	<-time.After(3 * time.Second) // let the BMC's sensor and counter see the machine run
	w := rf("raw", "GET", "/redfish/v1/Chassis/1/EnvironmentMetrics")["PowerWatts"].(map[string]any)["Reading"].(float64)
	if w < 36 {
		t.Errorf("PowerWatts %v while on, want at least the 40 W idle (less noise)", w)
	}
	rf("Systems", "-1", "reset", "ForceOff")
	if st := powerState(); st != "Off" {
		t.Fatalf("PowerState = %s after ForceOff", st)
	}
	kwh1 := rf("raw", "GET", "/redfish/v1/Chassis/1/EnvironmentMetrics")["EnergykWh"].(map[string]any)["Reading"].(float64)
	if kwh1 <= kwh0 {
		t.Errorf("EnergykWh did not grow while on: %v → %v", kwh0, kwh1)
	}

	// A job through bmcctld: powered, booted and billed over Redfish.
	work := workDir(t)
	id := l.submit(work, l.job("redfish", "", `command = "sleep 10"`))
	l.waitFor(ctx, id, state(job.Completed))
	list, err := l.client().Acct(ctx, api.AcctFilter{IDs: []string{id}, Entries: true})
	if err != nil || len(list.Jobs) != 1 {
		t.Fatalf("acct %s: %v %+v", id, err, list)
	}
	a := list.Jobs[0]
	rows := truth()
	for i := 0; i < 50 && (len(rows) == 0 || !rows[len(rows)-1].t.After(a.End)); i++ {
		<-time.After(20 * time.Millisecond) // the lab's 50 Hz truth writer
		rows = truth()
	}
	tj := truthAt(t, rows, a.End) - truthAt(t, rows, a.Start)
	errPct := 100 * (a.EnergyJoules - tj) / tj
	var methods []string
	for _, e := range a.Entries {
		methods = append(methods, e.Phase+"="+e.Method)
	}
	t.Logf("job %s on the Redfish node: billed %.1f J over %.1fs (%v), truth %.1f J: %+.2f %%; estimated=%v %v",
		id, a.EnergyJoules, a.End.Sub(a.Start).Seconds(), methods, tj, errPct, a.EnergyEstimated, a.Reasons)
	if len(a.Entries) != 3 || a.EnergyJoules <= 0 || a.EnergyEstimated {
		t.Errorf("job billed %.1f J in %d entries, estimated=%v %v: want boot, run and off measured", a.EnergyJoules, len(a.Entries), a.EnergyEstimated, a.Reasons)
	}
	// Under 60 s the goal is ±3 %; a degraded sensor on a loaded host gets
	// a wider bound here, and bench/energy measures the real figure.
	if math.Abs(errPct) > 10 {
		t.Errorf("billed %.1f J, truth %.1f J: %+.2f %%", a.EnergyJoules, tj, errPct)
	}
}
