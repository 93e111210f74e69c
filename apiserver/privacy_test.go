package apiserver

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/ctld"
	"github.com/bmc-sched/bmc/job"
	"golang.org/x/sys/unix"
)

// Another user sees a job as id, name, user, state, node and reason only;
// the owner, a coordinator of its account and root see its secrets; with
// --private-data=none everyone does.
func TestPrivateData(t *testing.T) {
	h := newHarness(t, 1)
	srv := NewServer(h.c, testLogger(), "", "test")
	// Names as the server finds them in the user database.
	owner, coord := srv.identityOf(&unix.Ucred{Uid: 1000, Gid: 1000}), srv.identityOf(&unix.Ucred{Uid: 1002, Gid: 1002})
	root := ctld.Identity{UID: 0, User: "root", Admin: true}
	if err := h.c.AddAccount(root, assoc.Account{Name: "lab", Coordinators: []string{coord.User}}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.AddUser(root, assoc.User{Name: owner.User, Accounts: []string{"lab"}}); err != nil {
		t.Fatal(err)
	}
	spec := job.Spec{Name: "secret-job", Image: "busybox", Nodes: 1, Hold: true, TimeLimit: job.Duration(time.Hour),
		Command: job.Command{Shell: true, Argv: []string{"curl -H 'key: s3cret'"}}, Environment: map[string]string{"API_KEY": "s3cret"}}
	resp, err := h.c.Submit(context.Background(), owner, api.SubmitRequest{Spec: spec, Cwd: "/home/secret"})
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatUint(resp.IDs[0], 10)
	get := func(uid uint32, path string, out any) {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil).WithContext(WithCred(context.Background(), uid, uid))
		srv.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("GET %s as %d: %d %s", path, uid, rec.Code, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		uid     uint32
		private bool
		privacy Privacy
	}{
		{"another user", 1001, true, DefaultPrivacy},
		{"the owner", 1000, false, DefaultPrivacy},
		{"a coordinator of its account", 1002, false, DefaultPrivacy},
		{"root", 0, false, DefaultPrivacy},
		{"another user, --private-data=none", 1001, false, Privacy{}},
		{"another user, --private-data=accounting", 1001, false, Privacy{Accounting: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.SetPrivacy(tc.privacy)
			var d api.JobDetail
			get(tc.uid, api.PathJobs+"/"+id, &d)
			var l api.JobList
			get(tc.uid, api.PathJobs, &l)
			if len(l.Jobs) != 1 {
				t.Fatalf("%d jobs listed", len(l.Jobs))
			}
			row := l.Jobs[0]
			if d.Name != "secret-job" || d.User != owner.User || d.State != job.Held || d.Reason != string(job.ReasonHeld) || row.Name != "secret-job" {
				t.Errorf("the public part is missing: %+v / %+v", d.JobInfo, row)
			}
			secret := d.Spec.Environment["API_KEY"] != "" || len(d.Spec.Command.Argv) > 0 || d.Cwd != "" || d.Output != "" || len(d.Events) > 0 || d.Account != "" || !row.SubmitTime.IsZero()
			if secret == tc.private {
				t.Errorf("secrets shown: %v, want %v: %+v", secret, !tc.private, d)
			}
		})
	}
}

func TestParsePrivacy(t *testing.T) {
	for in, want := range map[string]Privacy{
		"jobs,accounting": DefaultPrivacy, "jobs": {Jobs: true}, "accounting": {Accounting: true}, "none": {}, " jobs , accounting ": DefaultPrivacy,
	} {
		if got, err := ParsePrivacy(in); err != nil || got != want {
			t.Errorf("ParsePrivacy(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if _, err := ParsePrivacy("jobs,usage"); err == nil || err.Error() != `--private-data: "usage": want a list of jobs, accounting, or none` {
		t.Errorf("unknown word: %v", err)
	}
}

// FuzzParsePrivacy: any flag value is either refused with the one line or
// read as a subset of jobs and accounting that reads back the same.
func FuzzParsePrivacy(f *testing.F) {
	for _, s := range []string{"jobs,accounting", "none", "", "jobs,,usage", " accounting"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrivacy(s)
		if err != nil {
			if p != (Privacy{}) {
				t.Errorf("%q: refused but gave %+v", s, p)
			}
			return
		}
		var words []string
		if p.Jobs {
			words = append(words, "jobs")
		}
		if p.Accounting {
			words = append(words, "accounting")
		}
		if again, err := ParsePrivacy(strings.Join(words, ",")); err != nil || again != p {
			t.Errorf("%q → %+v, read back %+v, %v", s, p, again, err)
		}
	})
}
