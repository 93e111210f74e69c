package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
)

const nobody = 65534 // the unprivileged user the tests submit as

// TestAssociationsThroughTheBinaries: a fresh install takes any account;
// once root defines accounts, uid 65534 may charge only its own, gets its
// default when it names none, and, as a coordinator, holds, releases and
// cancels the jobs of its account and reads its statement.
func TestAssociationsThroughTheBinaries(t *testing.T) {
	dir := workDir(t)
	d := startDaemon(t, t.TempDir(), "--nodes", fastSimNodes(t, t.TempDir(), 2))
	write(t, filepath.Join(dir, "j.toml"), fmt.Sprintf(simJob, "j", "1s", 0))
	ok := func(uid uint32, args ...string) string {
		t.Helper()
		r := d.run(uid, dir, args[0], args[1:]...)
		if r.code != 0 {
			t.Fatalf("%v as uid %d: exit %d: %s", args, uid, r.code, r.stderr)
		}
		return r.stdout
	}

	if out := ok(0, "bmcq", "account", "list"); !strings.HasPrefix(out, "mode: open (no accounts are defined") {
		t.Errorf("fresh install: %q", out)
	}
	ok(nobody, "bmcsubmit", "--account", "anything", "j.toml") // open: any name goes

	if r := d.run(nobody, dir, "bmcq", "account", "add", "mine"); r.code != 1 || r.stderr != "bmcq: permission denied: only root or the admin group may add account mine associations\n" {
		t.Errorf("uid 65534 adds an account: exit %d %q", r.code, r.stderr)
	}
	ok(0, "bmcq", "account", "add", "science", "--description", "Faculty of Science")
	ok(0, "bmcq", "account", "add", "physics", "--parent", "science", "--coordinators", "nobody")
	ok(0, "bmcq", "account", "add", "chemistry", "--parent", "science")
	ok(0, "bmcq", "user", "add", "nobody", "--account", "chemistry")
	if out := ok(0, "bmcq", "account", "list"); !strings.HasPrefix(out, "mode: enforced (3 accounts are defined)") || !strings.Contains(out, "  physics    science  1       nobody") {
		t.Errorf("account list:\n%s", out)
	}

	// A foreign account: one line, nothing queued.
	before := len(d.jobs(true))
	r := d.run(nobody, dir, "bmcsubmit", "--account", "physics", "j.toml")
	if r.code != 1 || r.stderr != "bmcsubmit: permission denied: user nobody may not charge account physics; yours: chemistry (default)\n" {
		t.Errorf("foreign account: exit %d %q", r.code, r.stderr)
	}
	if r := d.run(nobody, dir, "bmcsubmit", "--account", "physcis", "j.toml"); r.code != 1 || !strings.Contains(r.stderr, `account "physcis" does not exist; yours: chemistry (default)`) {
		t.Errorf("made-up account: exit %d %q", r.code, r.stderr)
	}
	if after := len(d.jobs(true)); after != before {
		t.Errorf("refused submits queued %d jobs", after-before)
	}
	// No account named: the default.
	id := strings.TrimSpace(ok(nobody, "bmcsubmit", "--parsable", "j.toml"))
	var shown api.JobDetail
	json.Unmarshal([]byte(ok(0, "bmcq", "show", "--json", id)), &shown)
	if shown.Account != "chemistry" {
		t.Errorf("job %s charges %q, want the default chemistry", id, shown.Account)
	}

	// The coordinator of physics acts on root's physics job.
	phys := strings.TrimSpace(ok(0, "bmcsubmit", "--parsable", "--hold", "--account", "physics", "j.toml"))
	ok(nobody, "bmcq", "release", phys)
	ok(nobody, "bmcq", "hold", phys)
	if r := d.run(nobody, dir, "bmcq", "requeue", phys); r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("the coordinator requeued: exit %d %q", r.code, r.stderr)
	}
	ok(nobody, "bmcq", "cancel", phys)
	chem := strings.TrimSpace(ok(0, "bmcsubmit", "--parsable", "--hold", "--account", "chemistry", "j.toml"))
	if r := d.run(nobody, dir, "bmcq", "cancel", chem); r.code != 1 || !strings.Contains(r.stderr, "only its owner, an admin or a coordinator of its account") {
		t.Errorf("cancel in an account it does not coordinate: exit %d %q", r.code, r.stderr)
	}
	ok(0, "bmcq", "cancel", chem)

	// The statement of physics: every user for its coordinator.
	st := ok(nobody, "bmcq", "acct", "statement", "-A", "physics", "-S", "now-1h", "-E", "now", "--json")
	var s api.Statement
	if err := json.Unmarshal([]byte(st), &s); err != nil || s.Partial || s.Account != "physics" {
		t.Errorf("statement: %v %+v", err, s)
	}

	// Import replaces everything with the file's view.
	write(t, filepath.Join(dir, "accounts.toml"), `[[account]]
name = "science"
[[account]]
name = "physics"
parent = "science"
shares = 3
[[user]]
name = "nobody"
accounts = ["physics"]
`)
	if out := ok(0, "bmcq", "account", "import", "--dry-run", "accounts.toml"); !strings.Contains(out, "would import (dry run)") || !strings.Contains(out, "  - chemistry") {
		t.Errorf("dry run:\n%s", out)
	}
	ok(0, "bmcq", "account", "import", "accounts.toml")
	if out := ok(0, "bmcq", "user", "show", "nobody"); !strings.Contains(out, "User=nobody DefaultAccount=physics") {
		t.Errorf("after import:\n%s", out)
	}
	write(t, filepath.Join(dir, "bad.toml"), "[[user]]\nname = \"nobody\"\naccounts = [\"nowhere\"]\n")
	if r := d.run(0, dir, "bmcq", "account", "import", "bad.toml"); r.code != 1 || r.stderr != "bad.toml:1: user nobody: account nowhere does not exist\n" {
		t.Errorf("bad import: exit %d %q", r.code, r.stderr)
	}
}

// TestQuotaThroughTheBinaries: an account's energy limit holds jobs back,
// bmcq acct --quota shows where it stands, and bmcsubmit warns.
func TestQuotaThroughTheBinaries(t *testing.T) {
	dir := workDir(t)
	d := startDaemon(t, t.TempDir(), "--nodes", fastSimNodes(t, t.TempDir(), 2), "--power-interval", "100ms")
	// 200 W peak × (10 min + 0.2 s boot): 33.4 Wh a job; the limit fits one.
	ok := func(uid uint32, args ...string) string {
		t.Helper()
		r := d.run(uid, dir, args[0], args[1:]...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		return r.stdout
	}
	ok(0, "bmcq", "account", "add", "physics", "--energy-limit", "50Wh", "--period", "@monthly")
	ok(0, "bmcq", "user", "add", "nobody", "--account", "physics")
	write(t, filepath.Join(dir, "j.toml"), fmt.Sprintf(simJob, "j", "2s", 0))
	ok(nobody, "bmcsubmit", "j.toml")
	ok(nobody, "bmcsubmit", "j.toml")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := d.waitAll(ctx, 2)
	// The limit holds one reservation: the second started once the first
	// was billed, never beside it.
	if a, b := done[0], done[1]; a.State != "COMPLETED" || b.State != "COMPLETED" || b.StartTime.Before(a.EndTime) {
		t.Errorf("first %s %v..%v, second %s from %v: both ran at once", a.State, a.StartTime, a.EndTime, b.State, b.StartTime)
	}
	var shown api.JobDetail
	out := ok(0, "bmcq", "acct", "--quota")
	if !strings.Contains(out, "account  physics  50 Wh") && !strings.Contains(out, "account  physics  0.05 kWh") {
		t.Errorf("bmcq acct --quota:\n%s", out)
	}
	var ql api.QuotaList
	json.Unmarshal([]byte(ok(0, "bmcq", "acct", "--quota", "--json")), &ql)
	if len(ql.Quotas) != 1 || ql.Quotas[0].UsedJ <= 0 || ql.Quotas[0].ReservedJ != 0 || ql.Quotas[0].Reset.IsZero() {
		t.Errorf("quota: %+v", ql)
	}
	// Lower the limit under what is used: the next submit says so.
	ok(0, "bmcq", "account", "modify", "physics", "--energy-limit", fmt.Sprintf("%gJ", ql.Quotas[0].UsedJ*0.9))
	r := d.run(nobody, dir, "bmcsubmit", "--parsable", "j.toml")
	if r.code != 0 || !strings.HasPrefix(r.stderr, "bmcsubmit: warning: account physics has used 100% of its energy limit") {
		t.Errorf("submit over the limit: exit %d, stderr %q", r.code, r.stderr)
	}
	third := strings.TrimSpace(r.stdout)
	// The reason comes from the next scheduling pass, not a state change
	// that a wait could follow.
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	for {
		json.Unmarshal([]byte(ok(0, "bmcq", "show", "--json", third)), &shown)
		if shown.State == "PENDING" && shown.Reason == "AccountEnergyLimit" {
			break
		}
		if shown.State != "PENDING" {
			t.Fatalf("over its limit, job %s is %s (%s)", third, shown.State, shown.Reason)
		}
		select {
		case <-wctx.Done():
			t.Fatalf("over its limit, job %s waits with %q", third, shown.Reason)
		case <-time.After(100 * time.Millisecond): // polling a separate process
		}
	}
	ok(0, "bmcq", "cancel", third)
}

// TestStatementAndCarbonThroughTheBinaries: a statement in each format,
// grams of CO2e on the bill, a carbon import, and bmcsubmit --when-greenest.
func TestStatementAndCarbonThroughTheBinaries(t *testing.T) {
	dir := workDir(t)
	state := t.TempDir()
	tariffs := filepath.Join(state, "tariffs.toml")
	write(t, tariffs, `currency = "EUR"
[[tariff]]
name = "flat"
schedule = "@daily"
price_per_kwh = 0.25
[[carbon]]
name = "grid"
schedule = "@daily"
g_per_kwh = 300
`)
	d := startDaemon(t, state, "--nodes", fastSimNodes(t, t.TempDir(), 1), "--tariffs", tariffs, "--power-interval", "100ms")
	ok := func(uid uint32, args ...string) string {
		t.Helper()
		r := d.run(uid, dir, args[0], args[1:]...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		return r.stdout
	}
	write(t, filepath.Join(dir, "j.toml"), fmt.Sprintf(simJob, "j", "1s", 0))
	ok(nobody, "bmcsubmit", "--wait", "--account", "physics", "j.toml")
	var acct api.AcctList
	json.Unmarshal([]byte(ok(0, "bmcq", "acct", "--json")), &acct)
	if len(acct.Jobs) != 1 || acct.Jobs[0].CarbonGrams <= 0 {
		t.Fatalf("acct: %+v", acct)
	}
	j := acct.Jobs[0]
	if want := j.EnergyJoules / 3.6e6 * 300; j.CarbonGrams < 0.999*want || j.CarbonGrams > 1.001*want {
		t.Errorf("%.4f g for %.1f J at 300 g/kWh", j.CarbonGrams, j.EnergyJoules)
	}

	var st api.Statement
	json.Unmarshal([]byte(ok(nobody, "bmcq", "acct", "statement", "-A", "physics", "-S", "now-1h", "-E", "now", "--json")), &st)
	if st.Totals.Jobs != 1 || st.Totals.Joules < 0.999*j.EnergyJoules || st.Totals.Joules > 1.001*j.EnergyJoules || st.Unbilled == nil || st.Currency != "EUR" {
		t.Errorf("statement %+v, the job used %.1f J", st, j.EnergyJoules)
	}
	table := ok(nobody, "bmcq", "acct", "statement", "-A", "physics", "--period", time.Now().UTC().Format("2006-01"))
	if !strings.Contains(table, "Statement of account physics from ") || !strings.Contains(table, "cluster energy billed to no job in the period: ") {
		t.Errorf("statement table:\n%s", table)
	}
	if csv := ok(nobody, "bmcq", "acct", "statement", "-A", "physics", "-S", "now-1h", "-E", "now", "--csv"); !strings.HasPrefix(csv, "user,job_id,name,account,joules,kwh,cost,carbon_g,") || !strings.Contains(csv, "\nnobody,1,j,physics,") {
		t.Errorf("statement CSV:\n%s", csv)
	}

	// Hourly values: dirty now, clean in three hours.
	var rows strings.Builder
	hour := time.Now().UTC().Truncate(time.Hour)
	for i := 0; i < 12; i++ {
		g := 400
		if i >= 3 && i < 5 {
			g = 50
		}
		fmt.Fprintf(&rows, "%s,%d\n", hour.Add(time.Duration(i)*time.Hour).Format(time.RFC3339), g)
	}
	write(t, filepath.Join(dir, "grid.csv"), "time,g_per_kwh\n"+rows.String())
	if r := d.run(nobody, dir, "bmcq", "carbon", "import", "grid.csv"); r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("uid 65534 imports: exit %d %q", r.code, r.stderr)
	}
	if out := ok(0, "bmcq", "carbon", "import", "grid.csv"); !strings.HasPrefix(out, "imported 12 hourly values; bmcctld holds 12") {
		t.Errorf("import: %q", out)
	}
	write(t, filepath.Join(dir, "long.toml"), fmt.Sprintf(simJob, "long", "1s", 0)+"")
	out := ok(nobody, "bmcsubmit", "--when-greenest", "--deadline", "8h", "--time", "1:00:00", "long.toml")
	want := "begins " + hour.Add(3*time.Hour).Format("2006-01-02 15:04") + " UTC: the lowest carbon intensity within 8h for its 1:00:00 time limit (50 gCO2e/kWh on average"
	if !strings.Contains(out, want) {
		t.Errorf("--when-greenest printed %q, want it to hold %q", out, want)
	}
	if r := d.run(nobody, dir, "bmcsubmit", "--deadline", "8h", "j.toml"); r.code != 1 || r.stderr != "bmcsubmit: --deadline goes with --when-greenest\n" {
		t.Errorf("--deadline alone: exit %d %q", r.code, r.stderr)
	}
}
