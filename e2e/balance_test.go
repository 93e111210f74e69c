package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// TestBalanceThroughTheBinaries kills bmcctld with SIGKILL while a job runs
// on a simulated machine, starts it again, and reads the balance, the kept
// readings and the recomputed bill through bmcq: the node's metered energy
// is accounted for within 0.5 %, and the bill recomputes to the ledger.
func TestBalanceThroughTheBinaries(t *testing.T) {
	dir := workDir(t)
	state := t.TempDir()
	d := startDaemon(t, state, "--nodes", fastSimNodes(t, t.TempDir(), 1), "--power-interval", "100ms", "--standby-interval", "200ms")
	write(t, filepath.Join(dir, "j.toml"), "name = \"j\"\nimage = \"busybox:1.36\"\ncommand = \"true\"\ntime_limit = \"10:00\"\n[sim]\nruntime = \"3s\"\nload = 1\n")
	r := d.run(0, dir, "bmcsubmit", "--parsable", "j.toml")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	c := api.NewClient(d.sock)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		det, err := c.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if det.State == job.Running {
			break
		}
		c.WaitChange(ctx, det.ID, string(det.State))
	}
	// Crash once the run has energy on record (the sim draws 200 W).
	poll(t, ctx, "energy of the run so far", func() bool {
		l, err := c.Acct(ctx, api.AcctFilter{IDs: []string{id}})
		return err == nil && len(l.Jobs) == 1 && l.Jobs[0].RunJoules > 100
	})
	d.kill9()
	d.start()
	d.waitAll(ctx, 1)
	var n api.NodeBalance
	poll(t, ctx, "the node metered on after the job", func() bool {
		bal, err := c.Balance(ctx, time.Time{}, time.Time{})
		if err != nil || len(bal.Nodes) != 1 {
			return false
		}
		n = bal.Nodes[0]
		return n.LiveJoules == 0 && n.BilledJoules > 0
	})
	b := d.run(0, dir, "bmcq", "acct", "--balance", "--json")
	var bal api.Balance
	if err := json.Unmarshal([]byte(b.stdout), &bal); err != nil || len(bal.Nodes) != 1 {
		t.Fatalf("bmcq acct --balance --json: %v %s %s", err, b.stdout, b.stderr)
	}
	n = bal.Nodes[0]
	sum := n.BilledJoules + n.UnbilledJoules + n.StandbyJoules + n.LiveJoules
	if n.MeteredJoules <= 0 || n.BilledJoules <= 0 || math.Abs(sum-n.MeteredJoules) > 0.005*n.MeteredJoules {
		t.Errorf("balance %+v: billed + unbilled + standby = %.1f J of %.1f J metered", n, sum, n.MeteredJoules)
	}
	if n.Meter != "model" {
		t.Errorf("meter %q", n.Meter)
	}
	table := d.run(0, dir, "bmcq", "acct", "--balance")
	if table.code != 0 || !strings.Contains(table.stdout, "METERED_J") || !strings.Contains(table.stdout, "fast01") {
		t.Errorf("bmcq acct --balance: %s %s", table.stdout, table.stderr)
	}
	s := d.run(0, dir, "bmcq", "acct", "-j", id, "--samples")
	if s.code != 0 || !strings.Contains(s.stdout, fmt.Sprintf("of job %s", id)) || strings.Count(s.stdout, "fast01") < 3 {
		t.Errorf("--samples: %s %s", s.stdout, s.stderr)
	}
	rc := d.run(0, dir, "bmcq", "acct", "-j", id, "--recompute")
	if rc.code != 0 || !strings.Contains(rc.stdout, "matches the ledger") {
		t.Errorf("--recompute: %s %s", rc.stdout, rc.stderr)
	}
	by := d.run(0, dir, "bmcq", "acct", "--by", "meter")
	if by.code != 0 || !strings.Contains(by.stdout, "model") {
		t.Errorf("--by meter: %s %s", by.stdout, by.stderr)
	}
}

// poll asks cond again every 100 ms until it holds or ctx ends.
func poll(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-tick.C:
		}
	}
}
