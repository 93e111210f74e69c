//go:build vlab

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
)

// On a lab with one x86_64 and one aarch64 machine, the same image and
// command run twice on each; the advice view then compares the two kinds,
// and an arch = "any" job goes to the one it names cheapest in joules,
// saying so in its node choice.
func TestLabArchAnyFollowsTheAdvice(t *testing.T) {
	l := labUp(t, 1, 500, "--arm", "1")
	work := workDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	image := "oci:" + filepath.Join(l.dir, "images", "busybox-multi")
	const command = "echo arch=$(uname -m); sleep 5"
	submit := func(name, arch string) string {
		dir := filepath.Join(work, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return l.submit(dir, fmt.Sprintf("name = %q\nimage = %q\narch = %q\ntime_limit = \"10:00\"\ncommand = %q\n",
			name, image, arch, command))
	}
	nodeOf := map[string]string{"x86_64": "vnode1", "aarch64": "varm1"}
	type run struct{ id, arch string }
	var runs []run
	for i := range 2 {
		for _, arch := range []string{"x86_64", "aarch64"} {
			runs = append(runs, run{submit(fmt.Sprintf("%s-%d", arch, i), arch), arch})
		}
	}
	for _, r := range runs {
		d := l.waitFor(ctx, r.id, state(job.Completed))
		out, err := os.ReadFile(d.Output)
		if err != nil {
			t.Fatal(err)
		}
		if d.Node != nodeOf[r.arch] || !strings.Contains(string(out), "arch="+r.arch+"\n") {
			t.Errorf("job %s: ran on %s, output %q; want %s and arch=%s", r.id, d.Node, out, nodeOf[r.arch], r.arch)
		}
	}

	res := l.d.run(0, work, "bmcq", "acct", "--compare", "--json")
	if res.code != 0 {
		t.Fatalf("bmcq acct --compare: %s", res.stderr)
	}
	var rows []struct {
		Image, Command, Arch, Kind string
		Runs                       int
		MeanJoules                 float64 `json:"mean_joules"`
		EDP                        float64 `json:"edp_joule_seconds"`
		CheapestJoules             bool    `json:"cheapest_joules"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil {
		t.Fatalf("bmcq acct --compare --json: %v\n%s", err, res.stdout)
	}
	cheapest := ""
	n := 0
	for _, r := range rows {
		if r.Image != image || r.Command != command {
			continue
		}
		n++
		if r.Runs != 2 || r.MeanJoules <= 0 || r.EDP <= 0 {
			t.Errorf("advice row %+v: want 2 runs with energy", r)
		}
		if r.CheapestJoules {
			cheapest = r.Arch + "/" + r.Kind
		}
	}
	if n != 2 || cheapest == "" {
		t.Fatalf("advice names no cheaper kind of two: %s", res.stdout)
	}
	text := l.d.run(0, work, "bmcq", "acct", "--compare")
	t.Logf("bmcq acct --compare:\n%s", text.stdout)

	arch, kind, _ := strings.Cut(cheapest, "/")
	id := submit("any", "any")
	d := l.waitFor(ctx, id, state(job.Completed))
	if d.Node != nodeOf[arch] {
		t.Errorf("arch=any job ran on %s, want %s (%s used the fewest joules)", d.Node, nodeOf[arch], kind)
	}
	if !strings.HasPrefix(d.Why, "energy: "+kind+" used ") {
		t.Errorf("node choice %q does not give the energy reason", d.Why)
	}
	t.Logf("arch=any on %s: %s", d.Node, d.Why)
}
