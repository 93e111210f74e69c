package scheduler

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// genSnapshot builds a random but valid-looking cluster and queue. Everything
// comes from r, so a failing seed replays exactly.
func genSnapshot(r *rand.Rand) *Snapshot {
	pick := func(ss ...string) string { return ss[r.IntN(len(ss))] }
	subset := func(ss ...string) []string {
		var out []string
		for _, s := range ss {
			if r.IntN(3) == 0 {
				out = append(out, s)
			}
		}
		return out
	}
	s := &Snapshot{Now: t0, Done: map[uint64]job.State{}, ExpectedEnd: map[uint64]time.Time{},
		Blocked: map[uint64]job.Reason{}}
	id := uint64(100)
	nNodes := 1 + r.IntN(30)
	for i := range nNodes {
		n := &node.Node{Config: node.Config{
			Name:         fmt.Sprintf("n%03d", i),
			Arch:         pick("x86_64", "x86_64", "aarch64"),
			Features:     subset("ssd", "gpu", "ib"),
			Cores:        []int{2, 4, 8, 16}[r.IntN(4)],
			Memory:       int64(1+r.IntN(4)) * 8 * gib,
			ExpectedBoot: []time.Duration{0, 15 * time.Second, time.Minute}[r.IntN(3)],
		}}
		switch r.IntN(4) {
		case 1:
			n.Partitions = []string{"batch"}
		case 2:
			n.Partitions = []string{"debug"}
		case 3:
			n.Partitions = []string{"debug", "batch"}
		}
		switch x := r.IntN(20); {
		case x < 10:
			n.State = node.Idle
		case x < 17:
			n.State = node.Allocated
			n.Since = t0.Add(-time.Duration(r.IntN(120)) * time.Minute)
			if r.IntN(8) > 0 { // else held by a job the snapshot does not show
				id++
				n.Job = id
				a := &job.Job{ID: id, ArrayTaskID: -1, User: pick("alice", "bob"), State: job.Running,
					Node: n.Name, StartTime: n.Since, SubmitTime: n.Since.Add(-time.Minute),
					Spec: &job.Spec{Name: pick("a", "b"), Nodes: 1, TimeLimit: job.Duration(time.Duration(1+r.IntN(180)) * time.Minute)}}
				if r.IntN(4) == 0 {
					s.ExpectedEnd[id] = t0.Add(time.Duration(r.IntN(60)-10) * time.Minute)
				}
				s.Jobs = append(s.Jobs, a)
			}
		default:
			n.State = node.Down
		}
		n.Drain = r.IntN(10) == 0
		s.Nodes = append(s.Nodes, n)
	}
	for range r.IntN(5) {
		id++
		s.Done[id] = []job.State{job.Completed, job.Failed, job.Cancelled}[r.IntN(3)]
	}
	nJobs := 1 + r.IntN(60)
	var array uint64
	for range nJobs {
		id++
		j := &job.Job{ID: id, ArrayTaskID: -1, User: pick("alice", "bob", "carol"), State: job.Pending,
			SubmitTime: t0.Add(-time.Duration(r.IntN(600)) * time.Minute),
			Spec: &job.Spec{
				Name:      pick("a", "b"),
				Arch:      pick("", "", "any", "x86_64", "aarch64"),
				Features:  subset("ssd", "gpu"),
				Cores:     []int{0, 1, 2, 4, 8, 16, 32}[r.IntN(7)],
				Memory:    job.Size(r.IntN(40*1024)) << 20, // any size: signatures round it up
				Partition: pick("", "", "batch", "debug"),
				Nodes:     []int{0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2}[r.IntN(20)], // 2: never planned
				TimeLimit: job.Duration([]time.Duration{0, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour}[r.IntN(4)]),
				Nice:      r.IntN(3) * 1000,
			}}
		if r.IntN(7) == 0 {
			j.State = job.Held
			if r.IntN(2) == 0 {
				j.Reason = job.ReasonHeldAdmin
			}
		}
		if r.IntN(10) == 0 {
			j.Spec.Begin = t0.Add(time.Duration(r.IntN(20)-10) * time.Minute)
		}
		if r.IntN(5) == 0 {
			typ := []job.DepType{job.AfterOK, job.AfterAny, job.AfterNotOK, job.After, job.Singleton}[r.IntN(5)]
			d := job.Dependency{Type: typ}
			if typ != job.Singleton {
				d.JobID = 100 + uint64(r.IntN(int(id-99)+3)) // sometimes unknown
			}
			j.Spec.DependsOn = append(j.Spec.DependsOn, d)
		}
		if r.IntN(6) == 0 { // a task of an array; arrays start with their first task
			if array == 0 || r.IntN(3) == 0 {
				array = id
			}
			j.ArrayJobID, j.ArrayTaskID = array, int(id-array)
			j.Spec.Array = &job.ArraySpec{Text: "0-99%2", MaxParallel: 2}
			if r.IntN(3) == 0 {
				j.State = job.Running
				j.StartTime = t0.Add(-time.Minute)
			}
		}
		if r.IntN(20) == 0 {
			s.Blocked[id] = job.ReasonAccountEnergyLimit
		}
		s.Jobs = append(s.Jobs, j)
	}
	return s
}

// matches is the constraint chain written again, plainly, so the test does
// not trust the class machinery it checks.
func matches(spec *job.Spec, n *node.Node, cfg Config) bool {
	if spec.Arch != "" && spec.Arch != "any" && spec.Arch != n.Arch {
		return false
	}
	for _, f := range spec.Features {
		if !slices.Contains(n.Features, f) {
			return false
		}
	}
	part := cmpOr(spec.Partition, cfg.DefaultPartition)
	parts := n.Partitions
	if len(parts) == 0 {
		parts = []string{cfg.DefaultPartition}
	}
	return slices.Contains(parts, part) && spec.Cores <= n.Cores && int64(spec.Memory) <= n.Memory
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestScheduleProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(20261125, 1))
	var reserved, backfilled, placedJobs, never, multi int
	defer func() {
		t.Logf("reservations %d, backfilled %d, placed %d, never-satisfied %d, multi-node refused %d",
			reserved, backfilled, placedJobs, never, multi)
		// The generator must reach the interesting paths, or the test proves little.
		if reserved < 100 || backfilled < 100 || never < 50 || multi < 50 {
			t.Errorf("generator too tame")
		}
	}()
	for i := range 1000 {
		s := genSnapshot(r)
		backfill := i%2 == 0
		cfg := testCfg(backfill)
		before, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		p := Schedule(s, cfg)
		after, _ := json.Marshal(s)
		if string(before) != string(after) {
			t.Fatalf("case %d: Schedule changed the snapshot", i)
		}
		if msg := checkPlan(s, cfg, p); msg != "" {
			t.Fatalf("case %d (backfill=%v): %s\nplan: %+v", i, backfill, msg, p)
		}

		reserved += len(p.Reservation)
		placedJobs += len(p.Assignments)
		for _, a := range p.Assignments {
			if a.Backfilled {
				backfilled++
			}
		}
		for _, r := range p.Reasons {
			if r == job.ReasonDependencyNeverSatisfied {
				never++
			}
		}

		// One whole node per job: what waits for resources can use no node
		// still free, so strict priority places exactly what backfill does.
		other := Schedule(s, testCfg(!backfill))
		if !slices.Equal(placements(p), placements(other)) {
			t.Fatalf("case %d: backfill=%v places %v, backfill=%v places %v", i, backfill, placements(p), !backfill, placements(other))
		}
		for _, r := range p.Reasons {
			if r == job.ReasonBadConstraints {
				multi++
			}
		}

		// Same snapshot, any input order: same plan.
		again := Schedule(s, cfg)
		shuf := *s
		shuf.Jobs, shuf.Nodes = slices.Clone(s.Jobs), slices.Clone(s.Nodes)
		r.Shuffle(len(shuf.Jobs), func(a, b int) { shuf.Jobs[a], shuf.Jobs[b] = shuf.Jobs[b], shuf.Jobs[a] })
		r.Shuffle(len(shuf.Nodes), func(a, b int) { shuf.Nodes[a], shuf.Nodes[b] = shuf.Nodes[b], shuf.Nodes[a] })
		shuffled := Schedule(&shuf, cfg)
		if !reflect.DeepEqual(p, again) || !reflect.DeepEqual(p, shuffled) {
			t.Fatalf("case %d: plan differs between runs or input orders:\n%+v\n%+v\n%+v", i, p, again, shuffled)
		}
	}
}

// placements lists a plan's job → node decisions in order.
func placements(p Plan) []string {
	out := make([]string, len(p.Assignments))
	for i, a := range p.Assignments {
		out[i] = fmt.Sprintf("%d→%s", a.JobID, a.Node)
	}
	return out
}

// queuedBefore reports whether a comes before b in the queue: higher
// priority, then earlier submit, then lower id.
func queuedBefore(p Plan, a, b *job.Job) bool {
	if pa, pb := p.Priority[a.ID], p.Priority[b.ID]; pa != pb {
		return pa > pb
	}
	if !a.SubmitTime.Equal(b.SubmitTime) {
		return a.SubmitTime.Before(b.SubmitTime)
	}
	return a.ID < b.ID
}

// checkPlan returns what is wrong with p, or "".
func checkPlan(s *Snapshot, cfg Config, p Plan) string {
	nodes := map[string]*node.Node{}
	for _, n := range s.Nodes {
		nodes[n.Name] = n
	}
	jobs := map[uint64]*job.Job{}
	for _, j := range s.Jobs {
		jobs[j.ID] = j
	}
	used := map[string]uint64{}
	count := map[uint64]int{}
	for _, a := range p.Assignments {
		j, n := jobs[a.JobID], nodes[a.Node]
		switch {
		case j == nil || n == nil:
			return fmt.Sprintf("assignment %+v names an unknown job or node", a)
		case used[a.Node] != 0:
			return fmt.Sprintf("node %s given to jobs %d and %d", a.Node, used[a.Node], a.JobID)
		case !n.Available():
			return fmt.Sprintf("node %s is not available (%s, drain=%v)", a.Node, n.State, n.Drain)
		case j.State != job.Pending:
			return fmt.Sprintf("job %d placed in state %s", j.ID, j.State)
		case !matches(j.Spec, n, cfg):
			return fmt.Sprintf("job %d does not fit node %s", j.ID, a.Node)
		case a.Why == "":
			return fmt.Sprintf("assignment %+v has no why", a)
		case a.Backfilled && !cfg.Backfill:
			return "backfilled without backfill"
		}
		if _, ok := p.Reasons[j.ID]; ok {
			return fmt.Sprintf("job %d placed and given reason %s", j.ID, p.Reasons[j.ID])
		}
		used[a.Node] = a.JobID
		count[a.JobID]++
	}
	for id, c := range count {
		switch {
		case c != 1:
			return fmt.Sprintf("job %d got %d nodes; a job gets one", id, c)
		case jobs[id].Spec.Nodes > 1:
			return fmt.Sprintf("job %d asks for %d nodes and was placed", id, jobs[id].Spec.Nodes)
		}
	}
	running := map[uint64]int{}
	for _, j := range s.Jobs {
		if j.State.Waiting() {
			if _, ok := p.Priority[j.ID]; !ok {
				return fmt.Sprintf("waiting job %d has no priority", j.ID)
			}
			if count[j.ID] == 0 && p.Reasons[j.ID] == "" {
				return fmt.Sprintf("waiting job %d neither placed nor given a reason", j.ID)
			}
			if j.State == job.Pending && j.Spec.Nodes > 1 && p.Reasons[j.ID] != job.ReasonBadConstraints {
				return fmt.Sprintf("job %d asks for %d nodes: reason %s, want %s", j.ID, j.Spec.Nodes,
					p.Reasons[j.ID], job.ReasonBadConstraints)
			}
		}
		if j.ArrayJobID != 0 && (j.State.Active() || count[j.ID] > 0) {
			running[j.ArrayJobID]++
		}
	}
	for _, j := range s.Jobs {
		if count[j.ID] > 0 && j.Spec.Array != nil && j.Spec.Array.MaxParallel > 0 &&
			running[j.ArrayJobID] > j.Spec.Array.MaxParallel {
			return fmt.Sprintf("array %d runs %d tasks, limit %d", j.ArrayJobID, running[j.ArrayJobID], j.Spec.Array.MaxParallel)
		}
	}
	if !cfg.Backfill {
		if len(p.Reservation) > 0 {
			return "reservation without backfill"
		}
		// Strict priority: nobody takes a node a higher waiting job could use.
		for _, a := range p.Assignments {
			for _, j := range s.Jobs {
				r := p.Reasons[j.ID]
				if (r == job.ReasonResources || r == job.ReasonPriority) && queuedBefore(p, j, jobs[a.JobID]) &&
					matches(j.Spec, nodes[a.Node], cfg) {
					return fmt.Sprintf("job %d took %s which higher job %d could use", a.JobID, a.Node, j.ID)
				}
			}
		}
		return ""
	}
	if len(p.Reservation) > 1 {
		return fmt.Sprintf("%d reservations; EASY makes one", len(p.Reservation))
	}
	for top, at := range p.Reservation {
		if p.Reasons[top] != job.ReasonResources {
			return fmt.Sprintf("reserved job %d has reason %s", top, p.Reasons[top])
		}
		if at.Before(s.Now) {
			return fmt.Sprintf("reservation %v in the past", at)
		}
		// Replay the promise: by `at`, enough matching nodes must be free
		// even counting everything started in this pass.
		tj := jobs[top]
		end := map[string]time.Time{}
		for _, a := range p.Assignments {
			j := jobs[a.JobID]
			end[a.Node] = s.Now.Add(nodes[a.Node].ExpectedBoot + timeLimit(j.Spec, cfg))
			if a.Backfilled != queuedBefore(p, tj, j) {
				return fmt.Sprintf("job %d backfilled=%v with priority %v vs top %v", a.JobID, a.Backfilled,
					p.Priority[a.JobID], p.Priority[top])
			}
		}
		for _, j := range s.Jobs {
			if j.State.Active() {
				e, ok := s.ExpectedEnd[j.ID]
				if !ok {
					e = j.StartTime.Add(timeLimit(j.Spec, cfg))
				}
				end[j.Node] = e
			}
		}
		freeBy := 0
		for _, n := range s.Nodes {
			if !matches(tj.Spec, n, cfg) || n.Drain {
				continue
			}
			e, ok := end[n.Name]
			switch {
			case n.State == node.Idle && !ok:
				e = s.Now
			case n.State == node.Allocated && !ok:
				e = n.Since.Add(cfg.DefaultTimeLimit)
			case n.State != node.Idle && n.State != node.Allocated:
				continue
			}
			if !e.After(at) {
				freeBy++
			}
		}
		if freeBy == 0 {
			return fmt.Sprintf("job %d promised %v but none of its nodes is free by then", top, at)
		}
	}
	return ""
}
