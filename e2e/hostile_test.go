package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// TestPrivateDataBetweenUsers: uid 65534's job carries an API key in its
// environment and command. uid 1000 sees it only as id, name, user, state,
// node and reason, in every view and over both protocols; its owner and
// root see all of it.
func TestPrivateDataBetweenUsers(t *testing.T) {
	dir := workDir(t)
	d := startDaemon(t, t.TempDir(), "--sim", "1")
	write(t, filepath.Join(dir, "secret.toml"), `name = "secret"
image = "busybox:1.36"
command = "curl -H 'X-Key: s3cret-cmd' https://example.org"
time_limit = "10:00"
[environment]
API_KEY = "s3cret-env"
[sim]
runtime = "1s"
`)
	id := submitHeld(t, d, dir, "secret.toml")
	leaks := func(out string) bool {
		return strings.Contains(out, "s3cret") || strings.Contains(out, dir)
	}
	views := [][]string{
		{"bmcq", "show", "--json", id}, {"bmcq", "show", id}, {"bmcq", "--json"}, {"bmcq"}, {"bmcq", "acct", "--json"},
	}
	for _, v := range views {
		other := d.mustRun(1000, dir, v[0], v[1:]...)
		if leaks(other) {
			t.Errorf("uid 1000 %v shows the secrets:\n%s", v[1:], other)
		}
		if len(v) > 1 && v[1] == "show" && (!strings.Contains(other, "secret") || !strings.Contains(other, "HELD")) {
			t.Errorf("uid 1000 %v lacks the public part:\n%s", v[1:], other)
		}
	}
	for _, uid := range []uint32{hostile, 0} {
		if out := d.mustRun(uid, dir, "bmcq", "show", "--json", id); !strings.Contains(out, "s3cret-env") || !strings.Contains(out, "s3cret-cmd") {
			t.Errorf("uid %d does not see its job whole:\n%s", uid, out)
		}
	}
	var shown api.JobDetail
	json.Unmarshal([]byte(d.mustRun(1000, dir, "bmcq", "show", "--json", id)), &shown)
	if shown.Name != "secret" || shown.State != job.Held || shown.Reason != string(job.ReasonHeld) || len(shown.Events) != 0 || shown.Cwd != "" {
		t.Errorf("uid 1000 sees %+v", shown)
	}

	// Its bill: the owner's, not uid 1000's.
	d.mustRun(hostile, dir, "bmcq", "release", id)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitState(ctx, t, api.NewClient(d.sock), id, job.Completed)
	if out := d.mustRun(hostile, dir, "bmcq", "acct", "--json"); !strings.Contains(out, "s3cret-cmd") {
		t.Errorf("the owner's bmcq acct lacks its job:\n%s", out)
	}
	if out := d.mustRun(1000, dir, "bmcq", "acct", "--json"); leaks(out) || strings.Contains(out, `"secret"`) {
		t.Errorf("uid 1000's bmcq acct shows the bill:\n%s", out)
	}
	if r := d.run(1000, dir, "bmcq", "acct", "--plot", "-j", id); r.code == 0 || !strings.Contains(r.stderr, "its energy is for its owner") {
		t.Errorf("uid 1000's power curve: exit %d %q", r.code, r.stderr)
	}
}

// TestLimitsAndBulkCancel: uid 65534 is held to MaxArraySize and
// MaxSubmitJobs with one line each; then it cancels a 3,000-task array
// while root's bmcq keeps answering between the chunks.
func TestLimitsAndBulkCancel(t *testing.T) {
	dir := workDir(t)
	d := startDaemon(t, t.TempDir(), "--sim", "1", "--max-array-size", "3000", "--max-submit-jobs", "3010")
	write(t, filepath.Join(dir, "j.toml"), fmt.Sprintf(simJob, "j", "1s", 0))
	r := d.run(hostile, dir, "bmcsubmit", "--hold", "--array", "0-3000", "j.toml")
	if r.code != 1 || r.stderr != "bmcsubmit: array: 3001 tasks; MaxArraySize allows 3000 per array (bmcctld --max-array-size)\n" {
		t.Errorf("array over the cap: exit %d %q", r.code, r.stderr)
	}
	arr := strings.TrimSpace(d.mustRun(hostile, dir, "bmcsubmit", "--parsable", "--hold", "--array", "0-2999", "j.toml"))
	arr, _, _ = strings.Cut(arr, "_")
	r = d.run(hostile, dir, "bmcsubmit", "--hold", "--array", "0-10", "j.toml")
	if r.code != 1 || r.stderr != "bmcsubmit: permission denied: MaxSubmitJobs: user nobody has 3000 jobs pending or running, and 11 more would pass the limit of 3010 (bmcctld --max-submit-jobs)\n" {
		t.Errorf("over MaxSubmitJobs: exit %d %q", r.code, r.stderr)
	}

	var answered atomic.Int32
	stop := make(chan struct{})
	rootDone := make(chan struct{})
	go func() {
		defer close(rootDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if r := d.run(0, dir, "bmcq", "nodes"); r.code == 0 {
				answered.Add(1)
			}
		}
	}()
	out := d.mustRun(hostile, dir, "bmcq", "cancel", arr)
	close(stop)
	<-rootDone
	t.Logf("root's bmcq answered %d times during the cancel; cancel said %q", answered.Load(), strings.TrimSpace(out))
	cancelled := 0
	for _, j := range d.jobs(true) {
		if j.ArrayJobID != 0 && fmt.Sprint(j.ArrayJobID) == arr && j.State == job.Cancelled {
			cancelled++
		}
	}
	if cancelled != 3000 {
		t.Errorf("%d of 3000 tasks cancelled", cancelled)
	}
	// The room is back.
	d.mustRun(hostile, dir, "bmcsubmit", "--hold", "--array", "0-10", "j.toml")
}
