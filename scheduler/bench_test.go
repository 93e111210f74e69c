package scheduler

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// benchSnapshot builds a cluster of nNodes in a handful of machine kinds, a
// share of them busy with running jobs, and nJobs pending jobs with a realistic
// mix: mostly plain jobs, half with a memory request of any size, some with
// features, arch or a whole big machine, a few with dependencies or in arrays.
// Every job runs on one machine.
func benchSnapshot(nJobs, nNodes int, busyShare float64) *Snapshot {
	r := rand.New(rand.NewPCG(1, 2))
	s := &Snapshot{Now: t0, Done: map[uint64]job.State{}}
	kinds := []node.Config{
		{Arch: "x86_64", Cores: 16, Memory: 64 * gib, ExpectedBoot: 40 * time.Second},
		{Arch: "x86_64", Cores: 32, Memory: 128 * gib, ExpectedBoot: 60 * time.Second},
		{Arch: "x86_64", Cores: 64, Memory: 512 * gib, Features: []string{"ssd", "ib"}, ExpectedBoot: 90 * time.Second},
		{Arch: "x86_64", Cores: 32, Memory: 256 * gib, Features: []string{"gpu"}, ExpectedBoot: 90 * time.Second,
			Partitions: []string{"gpu"}},
		{Arch: "aarch64", Cores: 80, Memory: 256 * gib, ExpectedBoot: 60 * time.Second},
		{Arch: "x86_64", Cores: 8, Memory: 16 * gib, ExpectedBoot: 15 * time.Second, Partitions: []string{"debug", "batch"}},
	}
	id := uint64(0)
	for i := range nNodes {
		k := kinds[r.IntN(len(kinds))]
		k.Name = fmt.Sprintf("node%05d", i)
		n := &node.Node{Config: k, State: node.Idle}
		switch x := r.Float64(); {
		case x < busyShare:
			id++
			n.State, n.Job, n.Since = node.Allocated, id, t0.Add(-time.Duration(r.IntN(600))*time.Minute)
			s.Jobs = append(s.Jobs, &job.Job{ID: id, ArrayTaskID: -1, User: "u", State: job.Running, Node: n.Name,
				StartTime: n.Since, SubmitTime: n.Since,
				Spec: &job.Spec{Nodes: 1, Cores: 4, TimeLimit: job.Duration(time.Duration(1+r.IntN(24)) * time.Hour)}})
		case x < busyShare+0.005:
			n.State = node.Down
		case x < busyShare+0.01:
			n.Drain = true
		}
		s.Nodes = append(s.Nodes, n)
	}
	for range 1000 {
		id++
		s.Done[id] = job.Completed
	}
	for range nJobs {
		id++
		j := &job.Job{ID: id, ArrayTaskID: -1, User: fmt.Sprintf("user%d", r.IntN(200)), State: job.Pending,
			SubmitTime: t0.Add(-time.Duration(r.IntN(10000)) * time.Minute),
			Spec: &job.Spec{Name: "job", Cores: []int{1, 4, 8, 16, 32}[r.IntN(5)], Nodes: 1,
				TimeLimit: job.Duration(time.Duration(1+r.IntN(48)) * 30 * time.Minute), Nice: r.IntN(2) * 100}}
		if r.IntN(2) == 0 { // users ask for memory in odd amounts
			j.Spec.Memory = job.Size(1+r.IntN(64*1024)) << 20
		}
		switch x := r.IntN(100); {
		case x < 5:
			j.Spec.Features = []string{"gpu"}
			j.Spec.Partition = "gpu"
		case x < 8:
			j.Spec.Arch = "aarch64"
		case x < 10:
			j.Spec.Memory = 200 * gib
		case x < 12:
			j.Spec.Cores = 64 // the ssd/ib and aarch64 kinds only
		case x < 13:
			j.Spec.Features = []string{"ib"}
		case x < 15:
			j.Spec.DependsOn = []job.Dependency{{Type: job.AfterOK, JobID: id - uint64(1+r.IntN(2000))}}
		case x < 16:
			j.Spec.Partition = "debug"
		case x < 17:
			j.State = job.Held
		}
		if r.IntN(50) == 0 {
			j.ArrayJobID, j.ArrayTaskID = id-uint64(id%100), int(id%100)
			j.Spec.Array = &job.ArraySpec{Text: "0-99%10", MaxParallel: 10}
		}
		s.Jobs = append(s.Jobs, j)
	}
	return s
}

// withAccounts spreads s's jobs over 50 accounts with fair-share factors,
// and gives every other account an energy budget that runs out after a
// few dozen of its jobs (each machine kind draws 400 W).
func withAccounts(s *Snapshot) {
	s.FairShare = map[string]float64{}
	s.Energy = &EnergyBudgets{Left: map[string]float64{}, Reserved: map[string]float64{}, AccountKeys: map[string][]string{},
		UserKeys: map[string][]string{}, Watts: map[string]float64{"x86_64": 400, "aarch64": 400}}
	for i := range 50 {
		a := fmt.Sprintf("acct%02d", i)
		s.FairShare[a] = float64(i+1) / 50
		if i%2 == 0 {
			s.Energy.AccountKeys[a] = []string{"account:" + a}
			s.Energy.Left["account:"+a] = 40 * 400 * 24 * 3600
		}
	}
	for _, j := range s.Jobs {
		j.Spec.Account = fmt.Sprintf("acct%02d", j.ID%50)
	}
}

// BenchmarkSchedule: run with
//
//	go test -run '^$' -bench Schedule -benchmem ./scheduler/
func BenchmarkSchedule(b *testing.B) {
	for _, bc := range []struct {
		name          string
		jobs, nodes   int
		busy          float64
		wantPlacement bool
		accounting    bool
	}{
		{"1k_jobs_100_nodes", 1000, 100, 0.5, true, false},
		{"100k_jobs_10k_nodes_90pct_busy", 100_000, 10_000, 0.9, true, false},
		{"100k_jobs_10k_nodes_idle", 100_000, 10_000, 0, true, false},
		{"100k_jobs_10k_nodes_90pct_busy_fairshare_quotas", 100_000, 10_000, 0.9, true, true},
		{"100k_jobs_10k_nodes_idle_fairshare_quotas", 100_000, 10_000, 0, true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := benchSnapshot(bc.jobs, bc.nodes, bc.busy)
			if bc.accounting {
				withAccounts(s)
			}
			cfg := DefaultConfig()
			var p Plan
			b.ReportAllocs()
			// The machine is shared, so wall time per op depends on the
			// neighbours; CPU time (this process, GC included) does not.
			cpu0 := cpuTime()
			for b.Loop() {
				p = Schedule(s, cfg)
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
			b.ReportMetric(float64(len(p.Assignments)), "assigned")
			if bc.wantPlacement && len(p.Assignments) == 0 {
				b.Fatal("nothing placed: the benchmark measures nothing useful")
			}
		})
	}
}

// cpuTime is the user+system CPU this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
