package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/bmc-sched/bmc/internal/swf"
)

func slice(t testing.TB, path string, n int) []swf.Job {
	t.Helper()
	tr, err := swf.Open(path, n)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestReplayPolicies replays a slice of each trace under every policy and
// checks what must hold whatever the figures: the floor is the same for
// all, nothing is below it, immediate keeps nothing on, every task boots
// or reuses, and reuse only ever saves boots.
func TestReplayPolicies(t *testing.T) {
	for _, tc := range []struct {
		path     string
		jobs     int
		machines int
		users    bool
	}{
		{"testdata/KTH-SP2-1996-2.1-cln.swf.gz", 400, 100, true},
		{"testdata/lublin_256.swf.gz", 200, 256, false},
	} {
		tr := slice(t, tc.path, tc.jobs)
		byName := map[string]Result{}
		for _, p := range Policies {
			r, err := Replay(context.Background(), tr, tc.machines, x3550, p)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.path, p.Name, err)
			}
			byName[p.Name] = r
			switch {
			case r.Jobs == 0 || r.Tasks < r.Jobs:
				t.Errorf("%s %s: %d jobs, %d tasks", tc.path, p.Name, r.Jobs, r.Tasks)
			case r.TotalJ < r.FloorJ || r.BootJ <= 0:
				t.Errorf("%s %s: total %.0f J below the floor %.0f J, or no boot energy", tc.path, p.Name, r.TotalJ, r.FloorJ)
			case r.Boots+r.Reuses != r.Tasks:
				t.Errorf("%s %s: %d boots + %d reuses for %d tasks", tc.path, p.Name, r.Boots, r.Reuses, r.Tasks)
			case !p.Reuse && r.Reuses != 0:
				t.Errorf("%s %s: %d reuses without reuse", tc.path, p.Name, r.Reuses)
			case r.BSLD < 1 || r.MeanWait < 0:
				t.Errorf("%s %s: slowdown %.2f, wait %s", tc.path, p.Name, r.BSLD, r.MeanWait)
			}
		}
		always, imm, be, ber := byName["always-on (never)"], byName["immediate"], byName["breakeven"], byName["breakeven+reuse"]
		for name, r := range byName {
			if r.FloorJ != always.FloorJ {
				t.Errorf("%s %s: floor %.0f J, always-on's %.0f J", tc.path, name, r.FloorJ, always.FloorJ)
			}
		}
		if imm.IdleJ != 0 || always.IdleJ <= 0 {
			t.Errorf("%s: idle energy immediate %.0f J, always-on %.0f J", tc.path, imm.IdleJ, always.IdleJ)
		}
		if be.TotalJ > always.TotalJ || ber.TotalJ > be.TotalJ {
			t.Errorf("%s: totals always-on %.0f, breakeven %.0f, breakeven+reuse %.0f J: keeping machines for reuse cost energy",
				tc.path, always.TotalJ, be.TotalJ, ber.TotalJ)
		}
		if tc.users && ber.Reuses == 0 {
			t.Errorf("%s: no reuse with users in the trace", tc.path)
		}
		again, err := Replay(context.Background(), tr, tc.machines, x3550, Policies[3])
		if err != nil || again != ber {
			t.Errorf("%s: a second replay differs: %+v\nvs %+v (%v)", tc.path, again, ber, err)
		}
	}
}

// TestHeadOfQueueIsEnough: the replay shows each pass only the oldest
// waiting tasks; the scheduler seeing the whole queue plans the same.
func TestHeadOfQueueIsEnough(t *testing.T) {
	for _, tc := range []struct {
		path     string
		jobs     int
		machines int
	}{
		{"testdata/KTH-SP2-1996-2.1-cln.swf.gz", 300, 100},
		{"testdata/lublin_256.swf.gz", 150, 256},
	} {
		tr := slice(t, tc.path, tc.jobs)
		for _, p := range []Policy{Policies[0], Policies[3]} {
			head, err := replay(context.Background(), tr, tc.machines, x3550, p, false)
			if err != nil {
				t.Fatal(err)
			}
			whole, err := replay(context.Background(), tr, tc.machines, x3550, p, true)
			if err != nil {
				t.Fatal(err)
			}
			head.Passes, whole.Passes = 0, 0
			if head != whole {
				t.Errorf("%s %s: head of the queue %+v\nwhole queue %+v", tc.path, p.Name, head, whole)
			}
		}
	}
}

func TestRunPrintsTable(t *testing.T) {
	var out, errs bytes.Buffer
	err := run(context.Background(), []string{"-trace", "testdata/KTH-SP2-1996-2.1-cln.swf.gz", "-jobs", "200",
		"-policies", "always-on (never),breakeven+reuse"}, &out, &errs)
	if err != nil {
		t.Fatal(err, errs.String())
	}
	for _, want := range []string{"break-even T = 4m48s", "mean wait recorded in the trace", "| always-on (never)", "| breakeven+reuse", "0.0 %"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(context.Background(), []string{"-policies", "sometimes"}, &out, &errs); err == nil || !strings.Contains(err.Error(), "no policy") {
		t.Errorf("an unknown policy: %v", err)
	}
}

func BenchmarkReplayKTH1000(b *testing.B) {
	tr := slice(b, "testdata/KTH-SP2-1996-2.1-cln.swf.gz", 1000)
	for b.Loop() {
		if _, err := Replay(context.Background(), tr, 100, x3550, Policies[3]); err != nil {
			b.Fatal(err)
		}
	}
}
