package scheduler

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// budgetJob is a pending physics job of ann with a one-minute limit.
func budgetJob(id uint64) *job.Job {
	return with(pending(id, time.Duration(10-id)*time.Minute), func(j *job.Job) {
		j.User, j.Spec.Account, j.Spec.TimeLimit = "ann", "physics", job.Duration(time.Minute)
	})
}

func TestEnergyBudgets(t *testing.T) {
	// A node boots in 15 s and draws 100 W: a one-minute job reserves 7,500 J.
	const per = 100 * 75.0
	nodes := []*node.Node{idle("n1"), idle("n2"), idle("n3"), idle("n4")}
	jobs := []*job.Job{budgetJob(1), budgetJob(2), budgetJob(3), budgetJob(4)}
	budgets := func(left, reserved float64, watts float64) *EnergyBudgets {
		return &EnergyBudgets{
			Left: map[string]float64{"account:physics": left}, Reserved: map[string]float64{"account:physics": reserved},
			AccountKeys: map[string][]string{"physics": {"account:physics"}}, Watts: map[string]float64{"x86_64": watts},
		}
	}
	for _, tc := range []struct {
		name    string
		budget  *EnergyBudgets
		jobs    []*job.Job
		started []uint64
		reserve float64
	}{
		{"room for one and a half: one starts", budgets(1.5*per, 0, 100), jobs, []uint64{1}, per},
		{"room for two", budgets(2*per, 0, 100), jobs, []uint64{1, 2}, per},
		{"no room", budgets(per-1, 0, 100), jobs, nil, 0},
		{"no budgets: all start", nil, jobs, []uint64{1, 2, 3, 4}, 0},
		{"unknown draw: one at a time, reserving what is left", budgets(5*per, 0, 0), jobs, []uint64{1}, 5 * per},
		{"unknown draw while one runs: none", budgets(5*per, per, 0), jobs, nil, 0},
		{"another account's job is not held", budgets(0, 0, 100),
			append([]*job.Job{with(budgetJob(5), func(j *job.Job) { j.Spec.Account = "chemistry" })}, jobs...), []uint64{5}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Snapshot{Now: t0, Nodes: nodes, Jobs: tc.jobs, Energy: tc.budget}
			var before *EnergyBudgets
			if tc.budget != nil {
				b := *tc.budget
				before = &b
			}
			plan := Schedule(s, testCfg(true))
			var got []uint64
			for _, a := range plan.Assignments {
				got = append(got, a.JobID)
				if a.JobID < 5 && a.ReserveJ != tc.reserve {
					t.Errorf("job %d reserves %g J, want %g", a.JobID, a.ReserveJ, tc.reserve)
				}
			}
			if !reflect.DeepEqual(got, tc.started) {
				t.Errorf("started %v, want %v", got, tc.started)
			}
			for _, j := range tc.jobs {
				if placed(plan)[j.ID] == nil && plan.Reasons[j.ID] != job.ReasonAccountEnergyLimit {
					t.Errorf("job %d waits with %q", j.ID, plan.Reasons[j.ID])
				}
			}
			if tc.budget != nil && !reflect.DeepEqual(*tc.budget, *before) {
				t.Error("Schedule changed the snapshot's budgets")
			}
		})
	}
}

// A user's own limit holds whatever account the job charges.
func TestUserBudget(t *testing.T) {
	b := &EnergyBudgets{
		Left: map[string]float64{"user:ann": 10000}, UserKeys: map[string][]string{"ann": {"user:ann"}},
		Watts: map[string]float64{"x86_64": 100},
	}
	j1, j2 := budgetJob(1), with(budgetJob(2), func(j *job.Job) { j.Spec.Account = "chemistry" })
	plan := Schedule(&Snapshot{Now: t0, Nodes: []*node.Node{idle("n1"), idle("n2")}, Jobs: []*job.Job{j1, j2}, Energy: b}, testCfg(true))
	if len(plan.Assignments) != 1 || plan.Reasons[2] != job.ReasonAccountEnergyLimit {
		t.Errorf("plan %+v reasons %v", plan.Assignments, plan.Reasons)
	}
	n := idle("n1")
	if r, ok := Reservation(b, j1.Spec, n, testCfg(true)); !ok || r != 7500 {
		t.Errorf("Reservation = %g %v", r, ok)
	}
}

// Terms add up to the priority a pass gives, fair share included.
func TestTermsAddUp(t *testing.T) {
	cfg := DefaultConfig()
	j := with(pending(1, 36*time.Hour), func(j *job.Job) { j.Spec.Account, j.Spec.Nice, j.Spec.Cores = "physics", 50, 4 })
	factors := map[string]float64{"physics": 0.25}
	plan := Schedule(&Snapshot{Now: t0, Nodes: []*node.Node{busy("n1", 9)}, Jobs: []*job.Job{j}, FairShare: factors}, cfg)
	terms := Terms(j.Spec, j.SubmitTime, t0, 8, factors, cfg)
	var sum float64
	names := ""
	for _, tm := range terms {
		sum += tm.Value
		names += tm.Name + " "
	}
	if math.Abs(sum-plan.Priority[1]) > 1e-9 || names != "age size fairshare nice " {
		t.Errorf("terms %+v sum to %g, the pass gave %g", terms, sum, plan.Priority[1])
	}
	if terms[2].Value != 250 {
		t.Errorf("fair-share term %+v", terms[2])
	}
}
