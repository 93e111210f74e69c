package api

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
)

func checkSame(t *testing.T, j JobInfo) {
	t.Helper()
	want, werr := json.Marshal(&j)
	got, gerr := j.AppendJSON(nil)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("errors differ: encoding/json %v, AppendJSON %v\n%#v", werr, gerr, j)
	}
	if werr == nil && string(got) != string(want) {
		t.Fatalf("AppendJSON:\n%s\nencoding/json:\n%s", got, want)
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	task, zero := 7, 0
	at := time.Date(2026, 11, 25, 19, 0, 0, 123456789, time.UTC)
	east := time.FixedZone("x", 5*3600+30*60)
	cases := map[string]JobInfo{
		"zero": {},
		"full": {ID: 12, JobID: "10_7", ArrayJobID: 10, ArrayTaskID: &task, Name: "n", User: "alice", Account: "phys",
			Partition: "batch", State: job.Running, Reason: "None", Detail: "d", Node: "node01", ExitCode: -3,
			Priority: 0.5, TimeLimit: 3600, Elapsed: 1.25, SubmitTime: at, StartTime: at.Add(time.Second),
			RunTime: at.In(east), EndTime: at.Add(time.Hour), Simulated: true},
		"task zero":      {ArrayTaskID: &zero},
		"escapes":        {Name: "a\"b\\c\n\r\t\b\f\x01\x1f<>&\u2028\u2029é\xff\xfe日本", Detail: "</script>"},
		"tiny float":     {Priority: 1e-7, TimeLimit: 5e-324, Elapsed: 1e21},
		"big float":      {Priority: -1.5e300, TimeLimit: 123456789012345678, Elapsed: 1e20},
		"negative zero":  {Priority: math.Copysign(0, -1)},
		"nan":            {Priority: math.NaN()},
		"inf":            {Elapsed: math.Inf(1)},
		"year 10000":     {SubmitTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"negative year":  {EndTime: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		"odd zone":       {SubmitTime: at.In(time.FixedZone("y", -(24*3600 + 60)))},
		"zero time zone": {StartTime: time.Time{}.In(east)},
	}
	for name, j := range cases {
		t.Run(name, func(t *testing.T) { checkSame(t, j) })
	}
}

// A field added to JobInfo must be added to AppendJSON too.
func TestAppendJSONKnowsEveryField(t *testing.T) {
	want := []string{"ID", "JobID", "ArrayJobID", "ArrayTaskID", "Name", "User", "Account", "Partition", "State",
		"Reason", "Detail", "Node", "ExitCode", "Priority", "TimeLimit", "Elapsed", "SubmitTime", "StartTime",
		"RunTime", "EndTime", "Simulated"}
	typ := reflect.TypeFor[JobInfo]()
	var got []string
	for i := range typ.NumField() {
		got = append(got, typ.Field(i).Name+" "+string(typ.Field(i).Tag))
	}
	if len(got) != len(want) {
		t.Fatalf("JobInfo has %d fields, AppendJSON knows %d: update AppendJSON and this list\n%v", len(got), len(want), got)
	}
	for i := range want {
		if typ.Field(i).Name != want[i] {
			t.Fatalf("field %d is %s, AppendJSON expects %s: update AppendJSON", i, typ.Field(i).Name, want[i])
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add(uint64(1), "1", "name", "user", "RUNNING", "<&>\u2028\xff", 0.5, 3600.0, 1e-7, int64(1764097200123456789), int64(0), 2, true, 330)
	f.Add(uint64(0), "", "", "", "", "", 0.0, 0.0, 0.0, int64(0), int64(-62135596800000000), -1, false, 0)
	f.Fuzz(func(t *testing.T, id uint64, jobID, name, user, state, detail string, prio, limit, elapsed float64,
		submit, end int64, task int, sim bool, zoneMin int) {
		j := JobInfo{ID: id, JobID: jobID, Name: name, User: user, State: job.State(state), Reason: detail,
			Detail: detail, Node: name, Account: user, Partition: state, ExitCode: task, Priority: prio,
			TimeLimit: limit, Elapsed: elapsed, Simulated: sim, ArrayJobID: id / 2,
			SubmitTime: time.Unix(0, submit).UTC(),
			EndTime:    time.Unix(0, end).In(time.FixedZone("z", zoneMin*60)),
		}
		if task >= 0 {
			j.ArrayTaskID = &task
		}
		checkSame(t, j)
	})
}
