package scheduler

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// TestReasons covers every reason a waiting job can be given, and that the
// job the reason does not apply to is placed.
func TestReasons(t *testing.T) {
	type want struct {
		reasons map[uint64]job.Reason
		placed  map[uint64][]string
	}
	dep := func(id uint64, typ job.DepType, on uint64) *job.Job {
		return with(pending(id, time.Minute), func(j *job.Job) {
			j.Spec.DependsOn = []job.Dependency{{Type: typ, JobID: on}}
		})
	}
	task := func(id, array uint64, st job.State, maxPar int) *job.Job {
		return with(pending(id, time.Hour-time.Duration(id)*time.Second), func(j *job.Job) {
			j.ArrayJobID, j.ArrayTaskID, j.State = array, int(id-array), st
			j.Spec.Array = &job.ArraySpec{Text: "0-9", MaxParallel: maxPar}
		})
	}
	single := func(id uint64, age time.Duration, st job.State, user string) *job.Job {
		return with(pending(id, age), func(j *job.Job) {
			j.State, j.User, j.Spec.Name = st, user, "nightly"
			j.Spec.DependsOn = []job.Dependency{{Type: job.Singleton}}
		})
	}
	tests := []struct {
		name string
		snap Snapshot
		want want
	}{
		{
			name: "held by user and by admin",
			snap: Snapshot{Nodes: []*node.Node{idle("n1")}, Jobs: []*job.Job{
				with(pending(1, time.Hour), func(j *job.Job) { j.State = job.Held }),
				with(pending(2, time.Hour), func(j *job.Job) { j.State, j.Reason = job.Held, job.ReasonHeldAdmin }),
			}},
			want: want{reasons: map[uint64]job.Reason{1: job.ReasonHeld, 2: job.ReasonHeldAdmin}},
		},
		{
			name: "blocked by the controller",
			snap: Snapshot{Nodes: []*node.Node{idle("n1")}, Jobs: []*job.Job{pending(1, time.Hour), pending(2, time.Minute)},
				Blocked: map[uint64]job.Reason{1: job.ReasonAccountEnergyLimit}},
			want: want{reasons: map[uint64]job.Reason{1: job.ReasonAccountEnergyLimit}, placed: map[uint64][]string{2: {"n1"}}},
		},
		{
			name: "begin time in the future",
			snap: Snapshot{Nodes: []*node.Node{idle("n1"), idle("n2")}, Jobs: []*job.Job{
				with(pending(1, time.Hour), func(j *job.Job) { j.Spec.Begin = t0.Add(time.Second) }),
				with(pending(2, time.Hour), func(j *job.Job) { j.Spec.Begin = t0 }),
			}},
			want: want{reasons: map[uint64]job.Reason{1: job.ReasonBeginTime}, placed: map[uint64][]string{2: {"n1"}}},
		},
		{
			name: "afterok",
			snap: Snapshot{Nodes: []*node.Node{idle("n1"), idle("n2"), busy("n3", 50)}, Jobs: []*job.Job{
				running(50, "n3", t0, time.Hour),
				dep(1, job.AfterOK, 100), dep(2, job.AfterOK, 101), dep(3, job.AfterOK, 50), dep(4, job.AfterOK, 999),
				dep(5, job.AfterOK, 4),
			}, Done: map[uint64]job.State{100: job.Completed, 101: job.Failed}},
			want: want{reasons: map[uint64]job.Reason{2: job.ReasonDependencyNeverSatisfied, 3: job.ReasonDependency,
				4: job.ReasonDependencyNeverSatisfied, 5: job.ReasonDependency}, placed: map[uint64][]string{1: {"n1"}}},
		},
		{
			name: "afterany",
			snap: Snapshot{Nodes: []*node.Node{idle("n1"), idle("n2")}, Jobs: []*job.Job{
				pending(50, time.Hour), dep(1, job.AfterAny, 101), dep(2, job.AfterAny, 50),
			}, Done: map[uint64]job.State{101: job.Timeout}},
			want: want{reasons: map[uint64]job.Reason{2: job.ReasonDependency},
				placed: map[uint64][]string{50: {"n1"}, 1: {"n2"}}},
		},
		{
			name: "afternotok",
			snap: Snapshot{Nodes: []*node.Node{idle("n1"), idle("n2"), busy("n3", 50)}, Jobs: []*job.Job{
				running(50, "n3", t0, time.Hour),
				dep(1, job.AfterNotOK, 100), dep(2, job.AfterNotOK, 101), dep(3, job.AfterNotOK, 50),
			}, Done: map[uint64]job.State{100: job.Completed, 101: job.NodeFail}},
			want: want{reasons: map[uint64]job.Reason{1: job.ReasonDependencyNeverSatisfied, 3: job.ReasonDependency},
				placed: map[uint64][]string{2: {"n1"}}},
		},
		{
			name: "after: the other job has started",
			snap: Snapshot{Nodes: []*node.Node{idle("n1"), busy("n3", 50)}, Jobs: []*job.Job{
				running(50, "n3", t0, time.Hour),
				with(pending(51, 2*time.Hour), func(j *job.Job) { j.State = job.Held }),
				dep(1, job.After, 50), dep(2, job.After, 51), dep(3, job.After, 100),
			}, Done: map[uint64]job.State{100: job.Cancelled}},
			// 3's dependency is met (cancelled counts as final), but n1 is gone.
			want: want{reasons: map[uint64]job.Reason{51: job.ReasonHeld, 2: job.ReasonDependency, 3: job.ReasonResources},
				placed: map[uint64][]string{1: {"n1"}}},
		},
		{
			name: "a dependency on an array names all its tasks",
			snap: Snapshot{Nodes: []*node.Node{idle("n1"), busy("n2", 21)}, Jobs: []*job.Job{
				task(21, 20, job.Running, 0),
				dep(1, job.AfterOK, 20), dep(2, job.AfterAny, 30), dep(3, job.AfterOK, 40),
			}, Done: map[uint64]job.State{20: job.Completed, 30: job.Completed, 40: job.Failed}},
			want: want{reasons: map[uint64]job.Reason{1: job.ReasonDependency, 3: job.ReasonDependencyNeverSatisfied},
				placed: map[uint64][]string{2: {"n1"}}},
		},
		{
			name: "singleton",
			snap: Snapshot{Nodes: []*node.Node{idle("n1"), idle("n2"), idle("n3"), busy("n4", 1)}, Jobs: []*job.Job{
				with(running(1, "n4", t0, time.Hour), func(j *job.Job) { j.Spec.Name = "nightly" }),
				single(2, time.Hour, job.Pending, "alice"),    // alice's nightly runs already
				single(3, 2*time.Hour, job.Pending, "bob"),    // bob's first
				single(4, time.Hour, job.Pending, "bob"),      // waits for bob's first
				single(5, 3*time.Hour, job.Held, "carol"),     // held, yet first in line
				single(6, time.Hour, job.Pending, "carol"),    // waits for the held one
				single(7, time.Minute, job.Pending, "dave")}}, // alone
			want: want{reasons: map[uint64]job.Reason{2: job.ReasonDependency, 4: job.ReasonDependency,
				5: job.ReasonHeld, 6: job.ReasonDependency}, placed: map[uint64][]string{3: {"n1"}, 7: {"n2"}}},
		},
		{
			name: "singleton waits for one placed in the same pass",
			snap: Snapshot{Nodes: []*node.Node{idle("n1"), idle("n2")}, Jobs: []*job.Job{
				// 2 is submitted later but runs first (nice); 1 must not join it.
				with(pending(2, time.Minute), func(j *job.Job) { j.Spec.Name, j.Spec.Nice = "nightly", -10000 }),
				single(1, time.Hour, job.Pending, "alice")}},
			want: want{reasons: map[uint64]job.Reason{1: job.ReasonDependency}, placed: map[uint64][]string{2: {"n1"}}},
		},
		{
			name: "array parallel limit",
			snap: Snapshot{Nodes: []*node.Node{idle("n1"), idle("n2"), idle("n3"), busy("n4", 10)}, Jobs: []*job.Job{
				task(10, 10, job.Running, 2), task(11, 10, job.Pending, 2), task(12, 10, job.Pending, 2),
				task(21, 20, job.Pending, 0), task(22, 20, job.Pending, 0)}},
			want: want{reasons: map[uint64]job.Reason{12: job.ReasonArrayTaskLimit},
				placed: map[uint64][]string{11: {"n1"}, 21: {"n2"}, 22: {"n3"}}},
		},
		{
			name: "only matching nodes are down or drained",
			snap: Snapshot{Nodes: []*node.Node{
				idle("n1"),
				with(idle("big1"), func(n *node.Node) { n.Cores, n.State = 64, node.Down }),
				with(idle("big2"), func(n *node.Node) { n.Cores, n.Drain = 64, true }),
				with(busy("big3", 9), func(n *node.Node) { n.Cores, n.Drain = 64, true }),
			}, Jobs: []*job.Job{with(pending(1, time.Hour), func(j *job.Job) { j.Spec.Cores = 32 })}},
			want: want{reasons: map[uint64]job.Reason{1: job.ReasonNodeDown}},
		},
		{
			name: "Resources for the first, Priority behind it",
			snap: Snapshot{Nodes: []*node.Node{busy("n1", 50)}, Jobs: []*job.Job{
				running(50, "n1", t0, time.Hour), pending(1, time.Hour), pending(2, time.Minute)}},
			want: want{reasons: map[uint64]job.Reason{1: job.ReasonResources, 2: job.ReasonPriority}},
		},
		{
			name: "no node ever matches",
			snap: Snapshot{Nodes: []*node.Node{idle("n1")}, Jobs: []*job.Job{
				with(pending(1, time.Hour), func(j *job.Job) { j.Spec.Arch = "aarch64" }),
				with(pending(2, time.Hour), func(j *job.Job) { j.Spec.Cores = 9 }),
				with(pending(3, time.Hour), func(j *job.Job) { j.Spec.Partition = "debug" }),
			}},
			want: want{reasons: map[uint64]job.Reason{1: job.ReasonImageArch, 2: job.ReasonPartition, 3: job.ReasonPartition}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.snap.Now = t0
			for _, b := range []bool{false, true} {
				p := Schedule(&tt.snap, testCfg(b))
				if !maps.Equal(p.Reasons, tt.want.reasons) && !(len(p.Reasons) == 0 && len(tt.want.reasons) == 0) {
					t.Errorf("backfill=%v: reasons = %v, want %v", b, p.Reasons, tt.want.reasons)
				}
				if got := placed(p); !maps.EqualFunc(got, tt.want.placed, slices.Equal) &&
					!(len(got) == 0 && len(tt.want.placed) == 0) {
					t.Errorf("backfill=%v: placed = %v, want %v", b, got, tt.want.placed)
				}
			}
		})
	}
}

// TestConstraints checks each constraint of the chain against a mixed cluster.
func TestConstraints(t *testing.T) {
	nodes := []*node.Node{
		idle("x-small"),
		with(idle("x-gpu"), func(n *node.Node) { n.Features, n.Cores, n.Memory = []string{"ssd", "gpu"}, 32, 128*gib }),
		with(idle("arm"), func(n *node.Node) { n.Arch, n.Features = "aarch64", []string{"ssd"} }),
		with(idle("dbg"), func(n *node.Node) { n.Partitions = []string{"debug"}; n.Cores = 4 }),
		with(idle("both"), func(n *node.Node) { n.Partitions = []string{"debug", "batch"}; n.Cores = 16 }),
	}
	tests := []struct {
		name   string
		spec   func(*job.Spec)
		node   string
		reason job.Reason
	}{
		{"equal fit goes by name", func(s *job.Spec) {}, "arm", ""},
		{"arch any", func(s *job.Spec) { s.Arch = "any" }, "arm", ""},
		{"arch x86_64", func(s *job.Spec) { s.Arch = "x86_64" }, "x-small", ""},
		{"arch aarch64", func(s *job.Spec) { s.Arch = "aarch64" }, "arm", ""},
		{"arch nobody has", func(s *job.Spec) { s.Arch = "riscv64" }, "", job.ReasonImageArch},
		{"feature subset", func(s *job.Spec) { s.Features = []string{"gpu"} }, "x-gpu", ""},
		{"features in any order", func(s *job.Spec) { s.Features = []string{"ssd", "gpu", "gpu"} }, "x-gpu", ""},
		{"feature with arch", func(s *job.Spec) { s.Features, s.Arch = []string{"ssd"}, "x86_64" }, "x-gpu", ""},
		{"feature nobody has", func(s *job.Spec) { s.Features = []string{"fpga"} }, "", job.ReasonPartition},
		{"cores", func(s *job.Spec) { s.Cores = 9 }, "both", ""},
		{"cores too many", func(s *job.Spec) { s.Cores = 33 }, "", job.ReasonPartition},
		{"memory", func(s *job.Spec) { s.Memory = 17 * gib }, "x-gpu", ""},
		{"memory too much", func(s *job.Spec) { s.Memory = 129 * gib }, "", job.ReasonPartition},
		{"partition", func(s *job.Spec) { s.Partition = "debug" }, "dbg", ""},
		{"partition and cores", func(s *job.Spec) { s.Partition, s.Cores = "debug", 5 }, "both", ""},
		{"unknown partition", func(s *job.Spec) { s.Partition = "gpu" }, "", job.ReasonPartition},
		{"two nodes: never planned", func(s *job.Spec) { s.Nodes = 2 }, "", job.ReasonBadConstraints},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := pending(1, time.Minute)
			tt.spec(j.Spec)
			p := Schedule(&Snapshot{Now: t0, Nodes: nodes, Jobs: []*job.Job{j}}, testCfg(true))
			if got := strings.Join(placed(p)[1], ","); got != tt.node {
				t.Errorf("placed on %q, want %q", got, tt.node)
			}
			if got := p.Reasons[1]; got != tt.reason {
				t.Errorf("reason %q, want %q", got, tt.reason)
			}
			err := Feasible(j.Spec, nodes, testCfg(true))
			if (err == nil) != (tt.reason == "") {
				t.Errorf("Feasible = %v, want never-fits %v", err, tt.reason != "")
			}
		})
	}
}

// TestBestFit checks the order of the tie-breaks and the Why line.
func TestBestFit(t *testing.T) {
	nodes := []*node.Node{
		with(idle("c16"), func(n *node.Node) { n.Cores = 16 }),
		with(idle("m32"), func(n *node.Node) { n.Memory = 32 * gib }),
		with(idle("slow"), func(n *node.Node) { n.ExpectedBoot = time.Minute }),
		with(idle("b"), func(n *node.Node) { n.Features = []string{"ssd"} }),
		idle("c"),
		with(idle("a"), func(n *node.Node) { n.Drain = true }),
	}
	var jobs []*job.Job
	for i := range uint64(6) {
		jobs = append(jobs, with(pending(i+1, time.Duration(10-i)*time.Minute), func(j *job.Job) {
			j.Spec.Cores, j.Spec.Memory = 4, 14*gib
		}))
	}
	p := Schedule(&Snapshot{Now: t0, Nodes: nodes, Jobs: jobs}, testCfg(true))
	var got []string
	for _, a := range p.Assignments {
		got = append(got, a.Node)
	}
	// Equal fit across classes goes by name (b before c), then boot, memory, cores.
	want := []string{"b", "c", "slow", "m32", "c16"}
	if !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
	if w := "best fit: 4/8 cores, 2 GiB spare, boot ~15s"; p.Assignments[0].Why != w {
		t.Errorf("why = %q, want %q", p.Assignments[0].Why, w)
	}
	if p.Reasons[6] != job.ReasonResources {
		t.Errorf("job 6 reason %q, want Resources", p.Reasons[6])
	}
}

// TestPriorityOrder checks age, size and nice, and the submit/id tie-break.
func TestPriorityOrder(t *testing.T) {
	cfg := testCfg(false)
	nodes := []*node.Node{with(idle("n"), func(n *node.Node) { n.Cores = 10 })}
	a := pending(1, 7*24*time.Hour)                                                  // age 1000
	b := with(pending(2, 0), func(j *job.Job) { j.Spec.Cores = 10 })                 // size 1000
	c := with(pending(3, 0), func(j *job.Job) { j.Spec.Nice = -5000 })               // nice +500, size 100
	d := with(pending(4, 0), func(j *job.Job) { j.Spec.Nice = -5000 })               // same as c, later id
	e := with(pending(5, 14*24*time.Hour), func(j *job.Job) { j.Spec.Nice = 10000 }) // 1000 - 1000 + 100
	p := Schedule(&Snapshot{Now: t0, Nodes: nodes, Jobs: []*job.Job{e, d, c, b, a}}, cfg)
	want := map[uint64]float64{1: 1100, 2: 1000, 3: 600, 4: 600, 5: 100}
	for id, w := range want {
		if got := p.Priority[id]; got < w-1e-9 || got > w+1e-9 {
			t.Errorf("priority of %d = %v, want %v", id, got, w)
		}
	}
	if got := placed(p); len(got[1]) != 1 {
		t.Errorf("placed %v, want job 1 first", got)
	}
	if p.Reasons[2] != job.ReasonResources || p.Reasons[3] != job.ReasonPriority {
		t.Errorf("reasons %v", p.Reasons)
	}
}
