package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
)

func TestSummarizeAndTable(t *testing.T) {
	cfg := config{paths: []path{pathIPMI, pathRAPL}, lengths: []time.Duration{10 * time.Second, time.Minute}, jobs: 3}
	rs := []result{
		{path: pathIPMI, length: 10 * time.Second, billed: 1010, truth: 1000, window: 30 * time.Second, methods: "watts/watts/watts", runBilled: 99, runTruth: 100},
		{path: pathIPMI, length: 10 * time.Second, billed: 980, truth: 1000, window: 32 * time.Second, methods: "watts/watts/watts", runBilled: 103, runTruth: 100},
		{path: pathIPMI, length: 10 * time.Second, err: "job 3 ended FAILED"},
		{path: pathIPMI, length: time.Minute, billed: 5100, truth: 5000, window: 80 * time.Second, methods: "watts/counter/watts", est: true},
		{path: pathRAPL, length: 10 * time.Second, billed: 1202, truth: 1200, window: 30 * time.Second, methods: "rapl/rapl/rapl", est: true},
	}
	cells := summarize(rs, cfg)
	if len(cells) != 4 {
		t.Fatalf("%d cells", len(cells))
	}
	c := cells[0]
	if c.n != 2 || c.failed != 1 || c.worst != -2 || c.mean != -0.5 || c.window != 31 || c.nRun != 2 || c.runMean != 1 || c.runWorst != 3 {
		t.Errorf("10 s cell = %+v", c)
	}
	var b strings.Builder
	writeTable(&b, cfg, cells, 95*time.Second)
	got := b.String()
	want, err := os.ReadFile(filepath.Join("testdata", "table.golden"))
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		os.WriteFile(filepath.Join("testdata", "table.golden"), []byte(got), 0o644)
		return
	}
	if err != nil || got != string(want) {
		t.Errorf("table =\n%s\nwant\n%s (%v)", got, want, err)
	}
}

func TestParse(t *testing.T) {
	if _, err := parsePaths("ipmi-sdr,dcmi"); err == nil {
		t.Error("unknown path accepted")
	}
	if _, _, err := parseLengths("10s,1ms"); err == nil {
		t.Error("1ms accepted")
	}
	l, _, err := parseLengths("10s, 600s")
	if err != nil || len(l) != 2 || l[1] != 10*time.Minute {
		t.Errorf("lengths %v %v", l, err)
	}
	for _, bad := range []string{"600s:0", "600s:", "600s:x", "10s:2:3"} {
		if _, _, err := parseLengths(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	l, n, err := parseLengths("10s,600s:2")
	if c := (config{jobs: 5, jobsAt: n}); err != nil || len(l) != 2 || c.jobsOf(10*time.Second) != 5 || c.jobsOf(10*time.Minute) != 2 {
		t.Errorf("10s,600s:2: %v %v %v", l, n, err)
	}
	// The full table: 4 paths × 5 jobs × (10+30+60+600 s + 4 × 25 s),
	// two paths at a time.
	cfg := config{paths: allPaths, lengths: []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 10 * time.Minute}, jobs: 5, parallel: 2}
	if got := estimate(cfg); got != 2*5*800*time.Second {
		t.Errorf("estimate %v", got)
	}
	cfg.parallel = 3
	if got := estimate(cfg); got != 2*5*800*time.Second {
		t.Errorf("estimate with 3 at a time: %v", got)
	}
	// Two 600 s jobs instead of five, all four paths at once.
	cfg.parallel, cfg.jobsAt = 4, map[time.Duration]int{10 * time.Minute: 2}
	if got := estimate(cfg); got != (5*175+2*625)*time.Second {
		t.Errorf("estimate with 600s:2: %v", got)
	}
}

func TestInterpolateAndCommand(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	rows := []truthRow{{t0, 100}, {t0.Add(time.Second), 200}}
	for _, tc := range []struct {
		at   time.Duration
		want float64
		ok   bool
	}{{0, 100, true}, {250 * time.Millisecond, 125, true}, {time.Second, 200, true}, {-time.Millisecond, 0, false}, {2 * time.Second, 0, false}} {
		if got, ok := interpolate(rows, t0.Add(tc.at)); ok != tc.ok || got != tc.want {
			t.Errorf("at %v: %v %v, want %v %v", tc.at, got, ok, tc.want, tc.ok)
		}
	}
	if c := command(11 * time.Second); !strings.Contains(c, "+ 5 ))") || !strings.HasSuffix(c, "sleep 6") {
		t.Errorf("command = %s", c)
	}
}

// A run's table can be made again from its traces: the bill and the truth
// come back as measured.
func TestRetableFromTraces(t *testing.T) {
	rs, cfg, err := readTraces(filepath.Join("testdata", "trace"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || len(cfg.paths) != 1 || cfg.paths[0] != pathIPMI || len(cfg.lengths) != 1 || cfg.lengths[0] != 10*time.Second {
		t.Fatalf("results %+v, config %+v", rs, cfg)
	}
	// The trace was written with error -1.23 % against the full truth; its
	// rows are thinned to every fourth here, so allow a little.
	if e := rs[0].errPct(); e > -1.0 || e < -1.5 || rs[0].runTruth <= 0 {
		t.Errorf("error %+.2f %% (run %.1f/%.1f J), want about -1.23 %%", e, rs[0].runBilled, rs[0].runTruth)
	}
	// A job whose window the host froze in is not compared, but it is
	// known, so its trace is written and the table counts it.
	var st result
	err = st.compare(api.AcctJob{ID: 7, Start: time.Unix(100, 0), End: time.Unix(110, 0)},
		[]truthRow{{time.Unix(99, 0), 0}, {time.Unix(101, 0), 1}, {time.Unix(111, 0), 2}})
	if !errors.Is(err, errHostStalled) || !st.stalled || st.id != 7 {
		t.Errorf("a stalled window: %v, stalled %v, id %d", err, st.stalled, st.id)
	}
	if _, _, err := readTraces(t.TempDir()); err == nil {
		t.Error("an empty directory gave a table")
	}
	// Several runs' directories make one table; their files may share names.
	dir := filepath.Join("testdata", "trace")
	rs2, cfg2, err := readTraces(dir, dir)
	if err != nil || len(rs2) != 2 || len(cfg2.paths) != 1 || len(cfg2.lengths) != 1 {
		t.Errorf("two runs: %d results, config %+v, %v", len(rs2), cfg2, err)
	}
	if cells := summarize(rs2, cfg2); len(cells) != 1 || cells[0].n != 2 {
		t.Errorf("two runs' cells: %+v", cells)
	}
	if _, _, err := readTraces(dir, t.TempDir()); err == nil {
		t.Error("a run without traces was left out silently")
	}
}

// A trace file of any content is read or refused, never a panic.
func FuzzReadTrace(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "trace", "ipmi-sdr-10s-2.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"path":"ipmi-sdr","length":"10s","acct":[{}],"truth_rows":[{"t":"x","v":1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		file := filepath.Join(t.TempDir(), "t.json")
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := readTrace(file)
		if err == nil && (r.length <= 0 && r.length != 0) {
			t.Errorf("accepted a negative length %v", r.length)
		}
	})
}
