package accounting

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/bmc-sched/bmc/job"
)

// From ledger entries (in ledger order) to the kinds that place arch =
// "any" jobs: each job's entries summed (SumJob), the advice (Compare),
// regrouped by application (KindsByApp).
func TestKindsByAppFromTheLedger(t *testing.T) {
	e := func(id, boot uint64, kind, image string, joules float64, st job.State) Entry {
		return Entry{Facts: Facts{Job: id, Boot: boot, Kind: kind, Image: image, Command: "run", State: st}, Phase: Boot, Joules: joules}
	}
	app := AppKey("img", "run")
	other := AppKey("reg/img@sha256:1", "run")
	for _, tc := range []struct {
		name string
		in   []Entry
		want map[[2]string]string // kind:runs:mean, best first
	}{
		{"empty ledger", nil, map[[2]string]string{}},
		{"fewest mean joules first", []Entry{
			e(1, 1, "x86", "img", 300, job.Completed), e(2, 1, "arm", "img", 100, job.Completed),
			e(3, 1, "arm", "img", 140, job.Completed), e(4, 1, "x86", "img", 500, job.Completed),
		}, map[[2]string]string{app: "[arm:2:120 x86:2:400]"}},
		{"only completed jobs; every boot; the last boot's kind", []Entry{
			e(1, 1, "x86", "img", 1000, job.Pending), e(1, 2, "arm", "img", 50, job.Completed), // requeued: 1050 J on arm
			e(2, 1, "x86", "img", 10, job.Failed), // failed: not counted
			e(3, 1, "x86", "img", 400, job.Completed),
		}, map[[2]string]string{app: "[x86:1:400 arm:1:1050]"}},
		{"applications apart, by digest; a kindless job is skipped", []Entry{
			e(1, 1, "x86", "img", 10, job.Completed), e(2, 1, "x86", "reg/img@sha256:1", 20, job.Completed),
			e(3, 1, "", "img", 1, job.Completed),
		}, map[[2]string]string{app: "[x86:1:10]", other: "[x86:1:20]"}},
		{"equal means by kind name", []Entry{e(1, 1, "b", "img", 10, job.Completed), e(2, 1, "a", "img", 10, job.Completed)},
			map[[2]string]string{app: "[a:1:10 b:1:10]"}},
	} {
		var jobs []JobUsage
		for i := 0; i < len(tc.in); {
			k := i
			for k < len(tc.in) && tc.in[k].Job == tc.in[i].Job {
				k++
			}
			jobs = append(jobs, SumJob(tc.in[i:k]).Usage())
			i = k
		}
		got := map[[2]string]string{}
		for a, rows := range KindsByApp(Compare(jobs)) {
			var s []string
			for _, r := range rows {
				s = append(s, fmt.Sprintf("%s:%d:%g", r.Kind, r.Runs, r.MeanJoules))
			}
			got[a] = fmt.Sprint(s)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %v\nwant %v", tc.name, got, tc.want)
		}
	}
}

func TestPreferReason(t *testing.T) {
	for _, tc := range []struct {
		ks   []CompareRow
		want string
	}{
		{[]CompareRow{{Kind: "sim-arm", Runs: 3, MeanJoules: 448}, {Kind: "sim-x86", Runs: 2, MeanJoules: 1970}},
			"energy: sim-arm used 448 J on average for this image and command (3 runs) vs 1,970 J on sim-x86"},
		{[]CompareRow{{Kind: "a", Runs: 1, MeanJoules: 1234567.4}, {Kind: "b", Runs: 1, MeanJoules: 99999999.6}},
			"energy: a used 1,234,567 J on average for this image and command (1 run) vs 100,000,000 J on b"},
	} {
		if got := PreferReason(tc.ks); got != tc.want {
			t.Errorf("PreferReason = %q\nwant %q", got, tc.want)
		}
	}
}

func TestJobSumUsage(t *testing.T) {
	s := JobSum{Facts: Facts{JobID: "3_1", User: "ann", Account: "p", Arch: "x86_64", Kind: "k", Image: "i", Command: "c", State: job.Completed},
		Elapsed: 9, RunSeconds: 5, Joules: 6, BootJoules: 1, RunJoules: 2, OffJoules: 3, Cost: 0.5, Estimated: true}
	want := JobUsage{JobID: "3_1", User: "ann", Account: "p", Completed: true, Arch: "x86_64", Kind: "k", Image: "i", Command: "c",
		Elapsed: 9, RunSeconds: 5, EnergyJoules: 6, BootJoules: 1, RunJoules: 2, OffJoules: 3, Cost: 0.5, EnergyEstimated: true}
	if got := s.Usage(); got != want {
		t.Errorf("Usage = %+v\nwant %+v", got, want)
	}
	s.State = job.Failed
	if s.Usage().Completed {
		t.Error("a failed job's usage says completed")
	}
}
