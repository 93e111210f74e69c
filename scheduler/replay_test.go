package scheduler

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/internal/swf"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// replayResult is what a replay measured.
type replayResult struct {
	meanWait time.Duration
	bsld     float64 // mean bounded slowdown: max(1, (wait+run)/max(run, 10s))
	done     int
	passes   int
	late     int                  // jobs that started after a reservation promised them
	started  map[uint64]time.Time // when each job started
}

// replayCores are the machines of the replayed cluster, one a size. A job
// runs on one whole machine (bare metal, one job per machine), so an SWF job
// of procs processors becomes one job that asks for procs cores: it waits
// for a machine that big. The trace's jobs keep about six machines busy on
// average; six machines of doubling size make the big ones scarce, so a
// queue builds (mean wait hours) and small jobs pass big ones.
var replayCores = []int{8, 16, 32, 64, 128, 256}

// replay runs trace through Schedule on the replayCores machines, each job
// for exactly its run time, boot and power-off taking no time. Priority is
// age alone (SizeWeight 0), as every job was the same size in the trace's
// own queue. A tiny discrete-event loop: at each submit or end, apply the
// events, run one pass, start what it places.
func replay(t *testing.T, trace []swf.Job, backfill bool) replayResult {
	t.Helper()
	cfg := testCfg(backfill)
	cfg.SizeWeight = 0
	var nodes []*node.Node
	byName := map[string]*node.Node{}
	for i, cores := range replayCores {
		n := &node.Node{Config: node.Config{Name: fmt.Sprintf("n%d", i), Arch: "x86_64", Cores: cores, Memory: gib},
			State: node.Idle}
		nodes = append(nodes, n)
		byName[n.Name] = n
	}
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	runFor := map[uint64]time.Duration{}
	ends := map[uint64]time.Time{}
	promised := map[uint64]time.Time{}
	var active []*job.Job
	res := replayResult{started: map[uint64]time.Time{}}
	var totalWait time.Duration
	next := 0
	now := epoch
	for next < len(trace) || len(active) > 0 {
		// Jump to the next event: a submit or an end.
		at := time.Time{}
		if next < len(trace) {
			at = epoch.Add(trace[next].Submit)
		}
		for _, j := range active {
			if e, ok := ends[j.ID]; ok && (at.IsZero() || e.Before(at)) {
				at = e
			}
		}
		if at.IsZero() {
			t.Fatalf("stuck at %v with %d jobs waiting and nothing running", now, len(active))
		}
		now = at
		kept := active[:0]
		for _, j := range active {
			if e, ok := ends[j.ID]; ok && !e.After(now) {
				for _, n := range nodes {
					if n.Job == j.ID {
						n.State, n.Job, n.Since = node.Idle, 0, now
					}
				}
				delete(ends, j.ID)
				res.done++
				continue
			}
			kept = append(kept, j)
		}
		active = kept
		for next < len(trace) && !epoch.Add(trace[next].Submit).After(now) {
			sj := trace[next]
			active = append(active, &job.Job{ID: sj.ID, ArrayTaskID: -1, User: "u", State: job.Pending,
				SubmitTime: epoch.Add(sj.Submit), Spec: job.Spec{Cores: sj.Procs, Nodes: 1,
					TimeLimit: job.Duration(sj.Request)}})
			runFor[sj.ID] = sj.Run
			next++
		}

		p := Schedule(&Snapshot{Now: now, Jobs: active, Nodes: nodes}, cfg)
		res.passes++
		for id, when := range p.Reservation {
			if old, ok := promised[id]; !ok || when.Before(old) {
				promised[id] = when
			}
		}
		started := map[uint64]bool{}
		for _, a := range p.Assignments {
			n := byName[a.Node]
			if n.State != node.Idle {
				t.Fatalf("node %s assigned twice", a.Node)
			}
			n.State, n.Job, n.Since = node.Allocated, a.JobID, now
			started[a.JobID] = true
		}
		for _, j := range active {
			if !started[j.ID] {
				continue
			}
			j.State, j.StartTime = job.Running, now
			res.started[j.ID] = now
			ends[j.ID] = now.Add(runFor[j.ID])
			wait, run := now.Sub(j.SubmitTime), runFor[j.ID]
			totalWait += wait
			res.bsld += max(1, float64(wait+run)/float64(max(run, 10*time.Second)))
			if when, ok := promised[j.ID]; ok && now.After(when) {
				res.late++
			}
		}
	}
	if res.done > 0 {
		res.meanWait = totalWait / time.Duration(res.done)
		res.bsld /= float64(res.done)
	}
	return res
}

// TestReplayLublin replays the first jobs of the Lublin-Feitelson model trace
// (lublin_256: offered load 1.06 on 256 processors) on six machines, one job
// a machine (see replayCores), with strict priority and with backfill.
func TestReplayLublin(t *testing.T) {
	all, err := swf.Open("../bench/replay/testdata/lublin_256.swf.gz", 1500)
	if err != nil {
		t.Fatal(err)
	}
	trace := slices.DeleteFunc(all, func(j swf.Job) bool { return j.Run <= 0 || j.Procs <= 0 || j.Procs > 256 })
	if len(trace) < 1000 {
		t.Fatalf("only %d usable jobs", len(trace))
	}

	strict := replay(t, trace, false)
	easy := replay(t, trace, true)
	t.Logf("%d jobs on %d machines: mean wait %v, bounded slowdown %.1f, %d passes",
		len(trace), len(replayCores), easy.meanWait.Round(time.Second), easy.bsld, easy.passes)
	for name, r := range map[string]replayResult{"strict": strict, "easy": easy} {
		if r.done != len(trace) {
			t.Errorf("%s: %d of %d jobs completed", name, r.done, len(trace))
		}
	}
	if easy.meanWait < time.Hour {
		t.Errorf("mean wait %v: no queue built, the replay exercises little", easy.meanWait)
	}
	// One machine per job: whatever waits for resources can use no machine
	// still free, so backfill starts every job when strict priority does.
	if !maps.Equal(strict.started, easy.started) {
		t.Errorf("strict priority and backfill started jobs at different times")
	}
	// Run times are exact and priority is age, so no later job outranks an
	// earlier one: every reservation must be kept.
	if easy.late > 0 {
		t.Errorf("%d jobs started after their reservation", easy.late)
	}
}
