package vlabmeter

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeProcs plays a script of process states, one per Step.
type fakeProcs struct {
	pid int
	cpu time.Duration
	on  bool
}

func (f *fakeProcs) QEMU(string) (int, time.Duration, bool) { return f.pid, f.cpu, f.on }

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ptr[T any](v T) *T { return &v }

// checkFile reports a file whose content after step i is not want.
func checkFile(t *testing.T, i int, path, want string) {
	t.Helper()
	if got := readFile(t, path); got != want {
		t.Errorf("step %d: %s = %q, want %q", i, filepath.Base(path), got, want)
	}
}

func TestMeterRun(t *testing.T) {
	dir := t.TempDir()
	// A sensor that shows each 100 ms mean at once, in 4 W steps, without
	// noise, so every row can be worked out by hand.
	cfg := Config{
		Interval:    Duration(100 * time.Millisecond),
		CSVInterval: Duration(time.Second),
		Sensor: SensorTOML{Window: ptr(Duration(100 * time.Millisecond)), Period: ptr(Duration(100 * time.Millisecond)),
			Lag: ptr(Duration(0)), ResolutionWatts: ptr(4.0), NoisePercent: ptr(0.0)},
		Nodes: []NodeConfig{{Name: "vnode1", Dir: dir, CPUs: 1, IdleWatts: 40, DynamicWatts: 60, StandbyWatts: 10}},
	}
	// A counter left by an earlier meter run is resumed.
	must(t, os.WriteFile(filepath.Join(dir, JoulesFile), []byte("10.000\n"), 0o644))
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	procs := &fakeProcs{}
	m, err := New(cfg, procs, clk.now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	steps := []struct {
		at         time.Duration
		on         bool
		cpu        time.Duration
		watts      string // the sensor: the mean of the last 100 ms, in 4 W steps
		joulesWant string // the truth
	}{
		{0, false, 0, "12\n", "10.000\n"},                                           // standby 10 W → 12
		{100 * time.Millisecond, true, 0, "24\n", "12.500\n"},                       // +(10+40)/2·0.1; mean 25 → 24
		{200 * time.Millisecond, true, 100 * time.Millisecond, "72\n", "19.500\n"},  // +7; mean 70 → 72
		{1200 * time.Millisecond, true, 100 * time.Millisecond, "44\n", "89.500\n"}, // +70; 100→40 W over 1 s, last 100 ms: 43 → 44
		{1300 * time.Millisecond, false, 0, "24\n", "92.000\n"},                     // +2.5; mean 25 → 24
	}
	for i, st := range steps {
		clk.t = time.Unix(1_800_000_000, 0).Add(st.at)
		procs.on, procs.pid, procs.cpu = st.on, 5, st.cpu
		if err := m.Step(); err != nil {
			t.Fatal(err)
		}
		checkFile(t, i, filepath.Join(dir, WattsFile), st.watts)
		checkFile(t, i, filepath.Join(dir, JoulesFile), st.joulesWant)
	}
	// Run steps once at start and on each tick; on cancel it writes the last
	// row even inside the CSV interval.
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	clk.t = clk.t.Add(100 * time.Millisecond)
	go func() { done <- m.Run(ctx, ticks) }()
	ticks <- time.Time{} // received only after the first Step finished
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := "time,watts,joules\n" +
		"1800000000.000,10.00,10.000\n" +
		"1800000001.200,40.00,89.500\n" +
		"1800000001.400,10.00,93.000\n"
	if got := readFile(t, filepath.Join(dir, TruthFile)); got != want {
		t.Errorf("truth.csv =\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(readFile(t, filepath.Join(dir, WattsFile)), ".") {
		t.Error("power_watts must be an integer for ipmi_sim")
	}
}
