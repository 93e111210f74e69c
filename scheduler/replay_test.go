package scheduler

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// swfJob is the part of a Standard Workload Format line the replay needs.
type swfJob struct {
	id      uint64
	submit  time.Duration
	run     time.Duration
	procs   int
	request time.Duration // the user's estimate; the run time when absent
}

// parseSWF reads SWF records: 18 whitespace-separated fields, ';' starts a
// header line. Fields that are -1 are unknown.
func parseSWF(r io.Reader, limit int) ([]swfJob, error) {
	var out []swfJob
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() && len(out) < limit {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == ';' {
			continue
		}
		f := strings.Fields(text)
		if len(f) < 9 {
			return nil, fmt.Errorf("line %d: %d fields, want 18", line, len(f))
		}
		var v [9]int64
		for i := range v {
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("line %d field %d: %w", line, i+1, err)
			}
			v[i] = n
		}
		if v[0] < 0 || v[1] < 0 || v[1] > 1<<40 || v[3] > 1<<40 || v[8] > 1<<40 {
			return nil, fmt.Errorf("line %d: id, submit or times out of range", line)
		}
		procs := v[4]
		if procs <= 0 {
			procs = v[7] // requested when used is unknown
		}
		j := swfJob{id: uint64(v[0]), submit: time.Duration(v[1]) * time.Second,
			run: time.Duration(v[3]) * time.Second, procs: int(min(procs, 1<<20)),
			request: time.Duration(v[8]) * time.Second}
		if j.request <= 0 {
			j.request = j.run
		}
		out = append(out, j)
	}
	return out, sc.Err()
}

func FuzzParseSWF(f *testing.F) {
	f.Add("; Version: 2\n1    5094 -1   12072  16 -1 -1 -1 -1 -1 1 -1 -1 -1 0 -1 -1 -1\n")
	f.Add("2 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n")
	f.Add("x")
	f.Fuzz(func(t *testing.T, in string) {
		jobs, err := parseSWF(strings.NewReader(in), 100)
		if err != nil {
			return
		}
		for _, j := range jobs {
			if j.submit < 0 || (j.request <= 0 && j.run > 0) {
				t.Fatalf("bad record %+v from %q", j, in)
			}
		}
	})
}

// replayResult is what a replay measured.
type replayResult struct {
	meanWait time.Duration
	bsld     float64 // mean bounded slowdown: max(1, (wait+run)/max(run, 10s))
	done     int
	passes   int
	late     int // jobs that started after a reservation promised them
}

// replay runs trace through Schedule on 256 one-core nodes: each SWF job asks
// for procs whole nodes (bare metal: one job per machine) for exactly its run
// time, boot and power-off taking no time. A tiny discrete-event loop: at each
// submit or end, apply the events, run one pass, start what it places.
func replay(t *testing.T, trace []swfJob, backfill bool) replayResult {
	t.Helper()
	cfg := testCfg(backfill)
	var nodes []*node.Node
	byName := map[string]*node.Node{}
	for i := range 256 {
		n := &node.Node{Config: node.Config{Name: fmt.Sprintf("n%03d", i), Arch: "x86_64", Cores: 1, Memory: gib},
			State: node.Idle}
		nodes = append(nodes, n)
		byName[n.Name] = n
	}
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	runFor := map[uint64]time.Duration{}
	ends := map[uint64]time.Time{}
	promised := map[uint64]time.Time{}
	var active []*job.Job
	var res replayResult
	var totalWait time.Duration
	next := 0
	now := epoch
	for next < len(trace) || len(active) > 0 {
		// Jump to the next event: a submit or an end.
		at := time.Time{}
		if next < len(trace) {
			at = epoch.Add(trace[next].submit)
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
		for next < len(trace) && !epoch.Add(trace[next].submit).After(now) {
			sj := trace[next]
			active = append(active, &job.Job{ID: sj.id, ArrayTaskID: -1, User: "u", State: job.Pending,
				SubmitTime: epoch.Add(sj.submit), Spec: job.Spec{Cores: 1, Nodes: sj.procs,
					TimeLimit: job.Duration(sj.request)}})
			runFor[sj.id] = sj.run
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
// (offered load 1.06, so a queue builds) with and without backfill.
func TestReplayLublin(t *testing.T) {
	f, err := os.Open("/work/shared/traces/lublin_256.swf")
	if err != nil {
		t.Skipf("trace not available: %v", err)
	}
	defer f.Close()
	all, err := parseSWF(f, 1500)
	if err != nil {
		t.Fatal(err)
	}
	trace := slices.DeleteFunc(all, func(j swfJob) bool { return j.run <= 0 || j.procs <= 0 || j.procs > 256 })
	if len(trace) < 1000 {
		t.Fatalf("only %d usable jobs", len(trace))
	}

	fcfs := replay(t, trace, false)
	easy := replay(t, trace, true)
	t.Logf("%d jobs: FCFS mean wait %v, bounded slowdown %.1f, %d passes; EASY mean wait %v, bounded slowdown %.1f, %d passes",
		len(trace), fcfs.meanWait.Round(time.Second), fcfs.bsld, fcfs.passes,
		easy.meanWait.Round(time.Second), easy.bsld, easy.passes)
	for name, r := range map[string]replayResult{"fcfs": fcfs, "easy": easy} {
		if r.done != len(trace) {
			t.Errorf("%s: %d of %d jobs completed", name, r.done, len(trace))
		}
	}
	if easy.meanWait >= fcfs.meanWait {
		t.Errorf("backfill mean wait %v, not below FCFS %v", easy.meanWait, fcfs.meanWait)
	}
	// Run times are exact and no later job outranks an earlier one (equal
	// size, so priority is age), so EASY must keep every promise.
	if easy.late > 0 {
		t.Errorf("%d jobs started after their reservation", easy.late)
	}
}
