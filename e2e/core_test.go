package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

const simJob = `name = "%s"
image = "busybox:1.36"
command = "true"
time_limit = "10:00"
[sim]
runtime = "%s"
exit_code = %d
`

func TestBadJobFilesAreRefusedWithOneLine(t *testing.T) {
	dir := workDir(t)
	d := startDaemon(t, t.TempDir(), "--sim", "2")
	cases := map[string]struct {
		content string
		want    string // regexp of the one stderr line
	}{
		"unknown key":  {"image = \"busybox\"\ncommand = \"true\"\nimag = \"x\"\n", `^job\.toml:3: imag: unknown field`},
		"bad duration": {"image = \"busybox\"\ncommand = \"true\"\n\ntime_limit = \"2x\"\n", `^job\.toml:4: time_limit: "2x" is not a duration`},
		"no image":     {"command = \"true\"\n", `^job\.toml:1: image: is required$`},
		"broken toml":  {"image = \"busybox\"\ncommand = [\"a\",\n", `^job\.toml:\d+: `},
		"wrong type":   {"image = \"busybox\"\ncommand = \"true\"\ncores = \"many\"\n", `^job\.toml:3: cores: `},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			write(t, filepath.Join(dir, "job.toml"), tc.content)
			r := d.run(0, dir, "bmcsubmit", "job.toml")
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !regexp.MustCompile(tc.want).MatchString(lines[0]) {
				t.Errorf("stderr = %q, want one line matching %s", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q", r.stdout)
			}
		})
	}
	if jobs := d.jobs(true); len(jobs) != 0 {
		t.Errorf("refused files queued %d jobs", len(jobs))
	}
}

func TestSubmitFlagsAndWait(t *testing.T) {
	dir := workDir(t)
	d := startDaemon(t, t.TempDir(), "--nodes", fastSimNodes(t, t.TempDir(), 2))
	write(t, filepath.Join(dir, "ok.toml"), fmt.Sprintf(simJob, "ok", "100ms", 0))
	write(t, filepath.Join(dir, "bad.toml"), fmt.Sprintf(simJob, "bad", "100ms", 7))

	r := d.run(0, dir, "bmcsubmit", "--parsable", "ok.toml")
	if _, err := strconv.ParseUint(strings.TrimSpace(r.stdout), 10, 64); r.code != 0 || err != nil {
		t.Fatalf("--parsable printed %q (exit %d, %s)", r.stdout, r.code, r.stderr)
	}
	r = d.run(0, dir, "bmcsubmit", "--wait", "bad.toml")
	if r.code != 7 {
		t.Errorf("--wait of a job exiting 7: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "RUNNING") || !strings.Contains(r.stderr, "FAILED") {
		t.Errorf("--wait did not show the job's phases: %q", r.stderr)
	}
	r = d.run(0, dir, "bmcsubmit", "--wait", "--name", "renamed", "--time", "5", "ok.toml")
	if r.code != 0 || !regexp.MustCompile(`^Submitted job \d+\n$`).MatchString(r.stdout) {
		t.Errorf("--wait ok: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	id := strings.TrimPrefix(strings.TrimSpace(r.stdout), "Submitted job ")
	show := d.run(0, dir, "bmcq", "show", id, "--json")
	var det api.JobDetail
	if err := json.Unmarshal([]byte(show.stdout), &det); err != nil {
		t.Fatal(err, show.stderr)
	}
	if det.Name != "renamed" || det.TimeLimit != 300 || det.State != job.Completed {
		t.Errorf("flags did not override the file: name %q, limit %v, state %s", det.Name, det.TimeLimit, det.State)
	}
	r = d.run(0, dir, "bmcsubmit", "--time", "2x", "ok.toml")
	if r.code != 1 || !strings.Contains(r.stderr, "--time") {
		t.Errorf("bad --time: exit %d, %q", r.code, r.stderr)
	}
}

// TestThousandJobs is the check: 1,000 jobs, some arrays and some
// with dependencies, on 8 simulated machines all reach the state they must,
// and bmcq --json agrees with bmcq show.
func TestThousandJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 jobs take about a minute")
	}
	dir := workDir(t)
	d := startDaemon(t, t.TempDir(), "--nodes", fastSimNodes(t, t.TempDir(), 8))
	write(t, filepath.Join(dir, "ok.toml"), fmt.Sprintf(simJob, "ok", "50ms", 0))
	write(t, filepath.Join(dir, "fail.toml"), fmt.Sprintf(simJob, "fail", "50ms", 2))

	expect := map[string]job.State{} // job_id → final state
	submit := func(args ...string) uint64 {
		r := d.run(0, dir, "bmcsubmit", append([]string{"--parsable"}, args...)...)
		if r.code != 0 {
			t.Fatalf("bmcsubmit %v: %s", args, r.stderr)
		}
		id, _ := strconv.ParseUint(strings.TrimSpace(r.stdout), 10, 64)
		return id
	}
	n := 0
	for n < 1000 {
		switch {
		case n%100 == 0: // a 40-task array, at most 4 at once
			id := submit("--array", "1-40%4", "ok.toml")
			for i := 1; i <= 40; i++ {
				expect[fmt.Sprintf("%d_%d", id, i)] = job.Completed
			}
			n += 40
		case n%10 == 1:
			id := submit("fail.toml")
			expect[fmt.Sprint(id)] = job.Failed
			ok := submit("--dependency", fmt.Sprintf("afternotok:%d", id), "ok.toml")
			expect[fmt.Sprint(ok)] = job.Completed
			// afterok on a job that fails can never run: it stays PENDING
			// with DependencyNeverSatisfied until cancelled (as in Slurm).
			never := submit("--dependency", fmt.Sprintf("afterok:%d", id), "ok.toml")
			expect[fmt.Sprint(never)] = job.Cancelled
			n += 3
		default:
			id := submit("ok.toml")
			expect[fmt.Sprint(id)] = job.Completed
			n++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Cancel the jobs whose dependency can never be met once the scheduler says so.
	c := api.NewClient(d.sock)
	for id, st := range expect {
		if st != job.Cancelled {
			continue
		}
		for {
			det, err := c.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if det.Reason == string(job.ReasonDependencyNeverSatisfied) {
				break
			}
			if det.State.Final() {
				t.Fatalf("job %s with an unmeetable dependency ended %s", id, det.State)
			}
			c.WaitChange(ctx, det.ID, string(det.State)) // a pass re-evaluates reasons
		}
		if r := d.run(0, dir, "bmcq", "cancel", id); r.code != 0 {
			t.Fatalf("cancel %s: %s", id, r.stderr)
		}
	}
	jobs := d.waitAll(ctx, len(expect))
	for _, j := range jobs {
		if want := expect[j.JobID]; j.State != want {
			t.Errorf("job %s ended %s (%s), want %s", j.JobID, j.State, j.Detail, want)
		}
	}
	// bmcq --json and bmcq show agree on every field they share.
	for _, j := range d.jobs(true)[:50] {
		r := d.run(0, dir, "bmcq", "show", "--json", j.JobID)
		var det api.JobDetail
		if err := json.Unmarshal([]byte(r.stdout), &det); err != nil {
			t.Fatal(err)
		}
		det.JobInfo.Elapsed, j.Elapsed = 0, 0
		a, _ := json.Marshal(det.JobInfo)
		b, _ := json.Marshal(j)
		if string(a) != string(b) {
			t.Errorf("job %s: bmcq --json and bmcq show differ:\n%s\n%s", j.JobID, b, a)
		}
	}
}

// TestKill9WhileJobsRun: every acknowledged job survives a crash of the
// daemon, all finish after a restart, and none runs twice.
func TestKill9WhileJobsRun(t *testing.T) {
	dir := workDir(t)
	state := t.TempDir()
	d := startDaemon(t, state, "--nodes", fastSimNodes(t, t.TempDir(), 3))
	write(t, filepath.Join(dir, "j.toml"), fmt.Sprintf(simJob, "j", "2s", 0))
	var ids []string
	for i := 0; i < 9; i++ {
		r := d.run(0, dir, "bmcsubmit", "--parsable", "j.toml")
		if r.code != 0 {
			t.Fatal(r.stderr)
		}
		ids = append(ids, strings.TrimSpace(r.stdout))
	}
	c := api.NewClient(d.sock)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for {
		det, err := c.Job(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if det.State == job.Running {
			break
		}
		c.WaitChange(ctx, det.ID, string(det.State))
	}
	d.kill9()
	d.start()
	jobs := d.waitAll(ctx, len(ids))
	for _, j := range jobs {
		if j.State != job.Completed {
			t.Errorf("job %s ended %s: %s", j.JobID, j.State, j.Detail)
		}
		det, err := c.Job(ctx, j.JobID)
		if err != nil {
			t.Fatal(err)
		}
		runs := 0
		for _, e := range det.Events {
			if e.State == job.Running {
				runs++
			}
		}
		if runs != 1 {
			t.Errorf("job %s ran %d times", j.JobID, runs)
		}
	}
}

// TestOtherUsersJobIsRefused: bmcq cancel by another uid fails with a clear
// message and changes nothing.
func TestOtherUsersJobIsRefused(t *testing.T) {
	dir := workDir(t)
	d := startDaemon(t, t.TempDir(), "--sim", "1")
	write(t, filepath.Join(dir, "j.toml"), fmt.Sprintf(simJob, "j", "1s", 0))
	r := d.run(1000, dir, "bmcsubmit", "--parsable", "--hold", "j.toml")
	if r.code != 0 {
		t.Fatalf("submit as uid 1000: %s", r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	before := d.run(0, dir, "bmcq", "show", "--json", id).stdout
	for _, action := range []string{"cancel", "release", "requeue"} {
		r = d.run(1001, dir, "bmcq", action, id)
		if r.code != 1 || !strings.Contains(r.stderr, "permission denied") || !strings.Contains(r.stderr, "only its owner") {
			t.Errorf("uid 1001 %s: exit %d, %q", action, r.code, r.stderr)
		}
	}
	if after := d.run(0, dir, "bmcq", "show", "--json", id).stdout; after != before {
		t.Errorf("a refused cancel changed the job:\n%s\n%s", before, after)
	}
	if r = d.run(1001, dir, "bmcq", "node", "drain", "sim001", "--reason", "x"); r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("non-admin drain: exit %d, %q", r.code, r.stderr)
	}
	if r = d.run(1000, dir, "bmcq", "cancel", id); r.code != 0 {
		t.Errorf("owner cancel: exit %d, %q", r.code, r.stderr)
	}
}
