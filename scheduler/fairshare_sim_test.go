package scheduler_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power/sim"
	"github.com/bmc-sched/bmc/scheduler"
)

// weekOfSharing drives the scheduler on two simulated machines for a
// simulated week, a pass every minute of a clock that only the loop moves.
// Two accounts with equal shares keep four jobs each in the queue: "heavy"
// runs at full load, "light" at a fifth, each job half an hour, so a heavy
// job takes about 2.4 times a light one's energy (the simulator's model of
// an x86 machine: 90 W idle, 350 W peak). Each job's energy goes into its
// account's decayed usage (half-life 7 days) when it ends, and the
// fair-share factors (assoc.FairShare) enter the next pass. It returns the
// energy each account used, per day, cumulated.
func weekOfSharing(t *testing.T, weight float64) (heavy, light []float64) {
	t.Helper()
	cfg := scheduler.DefaultConfig()
	cfg.FairShareWeight = weight
	const halfLife = 7 * 24 * time.Hour
	tree, err := assoc.NewTree([]assoc.Account{{Name: "heavy"}, {Name: "light"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*node.Node
	for i := range 2 {
		nodes = append(nodes, &node.Node{Config: node.Config{Name: fmt.Sprintf("sim%03d", i+1), Arch: "x86_64", Cores: 8,
			Memory: 1 << 34, ExpectedBoot: sim.DefaultBootTime, BMC: node.BMC{Protocol: "sim"}}, State: node.Idle})
	}
	model := sim.ModelFor(nodes[0].Config)
	run := 30 * time.Minute
	load := map[string]float64{"heavy": 1, "light": 0.2}
	joulesOf := func(account string) float64 {
		w := model.IdleWatts + load[account]*(model.PeakWatts-model.IdleWatts)
		return model.BootTime.Seconds()*model.IdleWatts + run.Seconds()*w
	}
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	start := now
	usage := map[string]accounting.Decayed{}
	used := map[string]float64{}
	var jobs []*job.Job
	ends := map[uint64]time.Time{}
	nextID := uint64(1)
	submit := func(account string) {
		jobs = append(jobs, &job.Job{ID: nextID, ArrayTaskID: -1, User: account + "-user", State: job.Pending, SubmitTime: now,
			Spec: &job.Spec{Name: account, Account: account, Nodes: 1, TimeLimit: job.Duration(time.Hour)}})
		nextID++
	}
	for day := 1; day <= 7; day++ {
		for ; now.Before(start.Add(time.Duration(day) * 24 * time.Hour)); now = now.Add(time.Minute) {
			// Jobs that ended: free their node and bill their account.
			live := jobs[:0]
			for _, j := range jobs {
				if end, ok := ends[j.ID]; ok && !end.After(now) {
					for _, n := range nodes {
						if n.Job == j.ID {
							n.State, n.Job = node.Idle, 0
						}
					}
					usage[j.Spec.Account] = usage[j.Spec.Account].Add(joulesOf(j.Spec.Account), end, halfLife)
					used[j.Spec.Account] += joulesOf(j.Spec.Account)
					continue
				}
				live = append(live, j)
			}
			jobs = live
			for _, a := range []string{"heavy", "light"} {
				waiting := 0
				for _, j := range jobs {
					if j.Spec.Account == a && j.State == job.Pending {
						waiting++
					}
				}
				for ; waiting < 4; waiting++ {
					submit(a)
				}
			}
			decayed := map[string]float64{}
			for a, d := range usage {
				decayed[a] = d.ValueAt(now, halfLife)
			}
			plan := scheduler.Schedule(&scheduler.Snapshot{Now: now, Jobs: jobs, Nodes: nodes,
				FairShare: assoc.Factors(assoc.FairShare(tree, decayed))}, cfg)
			for _, a := range plan.Assignments {
				for _, j := range jobs {
					if j.ID == a.JobID {
						j.State, j.Node, j.StartTime = job.Running, a.Node, now
						ends[j.ID] = now.Add(model.BootTime + run)
					}
				}
				for _, n := range nodes {
					if n.Name == a.Node {
						n.State, n.Job = node.Allocated, a.JobID
					}
				}
			}
		}
		heavy, light = append(heavy, used["heavy"]), append(light, used["light"])
	}
	return heavy, light
}

// Two accounts with equal shares converge to equal energy over a simulated
// week with fair share; without it, the heavy one uses about 2.4 times as
// much (the same number of jobs).
func TestFairShareConvergesToEqualEnergy(t *testing.T) {
	heavy, light := weekOfSharing(t, scheduler.DefaultConfig().FairShareWeight)
	for d := range heavy {
		t.Logf("day %d: heavy %.1f MJ, light %.1f MJ, ratio %.3f", d+1, heavy[d]/1e6, light[d]/1e6, heavy[d]/light[d])
	}
	week := heavy[6] / light[6]
	if math.Abs(week-1) > 0.06 {
		t.Errorf("after a week heavy used %.3f times light's energy, want within 6%% of equal", week)
	}
	// Converging: the last day's own split is at least as even as the first's.
	first, last := heavy[0]/light[0], (heavy[6]-heavy[5])/(light[6]-light[5])
	if math.Abs(last-1) > math.Abs(first-1)+0.05 {
		t.Errorf("day 1 ratio %.3f, day 7 ratio %.3f: not converging", first, last)
	}

	plain, plainLight := weekOfSharing(t, 0)
	t.Logf("without fair share: heavy %.3f times light after a week", plain[6]/plainLight[6])
	if r := plain[6] / plainLight[6]; r < 2 {
		t.Errorf("without fair share heavy used only %.2f times light's energy: the test shows nothing", r)
	}
}
