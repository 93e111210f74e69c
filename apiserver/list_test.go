package apiserver

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// writeJobList streams what writeJSON would have written in one piece;
// clients (bmcq --json passes it through) must not see a difference.
func TestWriteJobListMatchesWriteJSON(t *testing.T) {
	task := 3
	rows := []api.JobInfo{
		{ID: 1, JobID: "1", Name: "a<b>&c", User: "root", State: job.Pending, Reason: "Priority", Priority: 0.25,
			SubmitTime: time.Date(2026, 11, 25, 19, 0, 0, 5, time.UTC)},
		{ID: 7, JobID: "5_3", ArrayJobID: 5, ArrayTaskID: &task, Name: "x", State: job.Running, Node: "n1",
			SubmitTime: time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC), StartTime: time.Date(2026, 11, 25, 19, 1, 0, 0, time.UTC),
			Elapsed: 12.5, Simulated: true},
	}
	for name, jobs := range map[string][]api.JobInfo{"nil": nil, "empty": {}, "one": rows[:1], "two": rows} {
		t.Run(name, func(t *testing.T) {
			want := httptest.NewRecorder()
			writeJSON(want, 200, api.JobList{Jobs: jobs})
			got := httptest.NewRecorder()
			(&Server{}).writeJobList(got, fixedRows(jobs))
			if got.Body.String() != want.Body.String() {
				t.Errorf("streamed:\n%s\nwant:\n%s", got.Body, want.Body)
			}
			if got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
				t.Errorf("code %d %q, want %d %q", got.Code, got.Header().Get("Content-Type"), want.Code, want.Header().Get("Content-Type"))
			}
		})
	}
}

// fixedRows are rows given in full, as a listing's would be built.
type fixedRows []api.JobInfo

func (f fixedRows) Null() bool            { return f == nil }
func (f fixedRows) Len() int              { return len(f) }
func (f fixedRows) Row(i int) api.JobInfo { return f[i] }
