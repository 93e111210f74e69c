package accounting

import (
	"reflect"
	"testing"

	"github.com/bmc-sched/bmc/job"
)

func TestSumJob(t *testing.T) {
	entry := func(boot uint64, p Phase, from, to int, joules, cost float64, reasons ...string) Entry {
		return Entry{
			Facts: Facts{Job: 5, JobID: "5", Boot: boot, User: "ann", Node: "n" + string(rune('0'+boot)), Kind: "k", State: job.Pending},
			Phase: p, Start: at(float64(from)), End: at(float64(to)), Duration: float64(to - from), Joules: joules,
			Cost: cost, Currency: "EUR", Estimated: len(reasons) > 0, Reasons: reasons,
		}
	}
	last := entry(2, Off, 40, 41, 2, 0.5)
	last.State = job.Completed
	for _, tc := range []struct {
		name string
		in   []Entry
		want JobSum
	}{
		{"nothing billed", nil, JobSum{}},
		{"a boot that failed", []Entry{entry(1, Boot, 0, 30, 300, 1)},
			JobSum{Facts: entry(1, Boot, 0, 30, 300, 1).Facts, Currency: "EUR", Boots: 1, Start: at(0), End: at(30), Elapsed: 30,
				Joules: 300, BootJoules: 300, Cost: 1}},
		{"requeued: two boots, the last one's facts", []Entry{
			entry(1, Boot, 0, 5, 50, 1), entry(1, Run, 5, 9, 40, 1, "gap of 3s"), entry(1, Off, 9, 10, 1, 0),
			entry(2, Boot, 20, 25, 50, 1), entry(2, Run, 25, 40, 150, 2), last},
			JobSum{Facts: last.Facts, Currency: "EUR", Boots: 2, Start: at(0), End: at(41), Elapsed: 41, RunSeconds: 4 + 15,
				Joules: 50 + 40 + 1 + 50 + 150 + 2, BootJoules: 100, RunJoules: 190, OffJoules: 3, Cost: 5.5,
				Estimated: true, Reasons: []string{"boot 1 run: gap of 3s"}}},
		{"estimated without a reason still says so", []Entry{func() Entry { e := entry(1, Boot, 0, 1, 1, 0); e.Estimated = true; return e }()},
			JobSum{Facts: entry(1, Boot, 0, 1, 1, 0).Facts, Currency: "EUR", Boots: 1, Start: at(0), End: at(1), Elapsed: 1,
				Joules: 1, BootJoules: 1, Estimated: true, Reasons: []string{"boot 1 boot: estimated"}}},
	} {
		if got := SumJob(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}
