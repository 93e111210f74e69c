package vlabmeter

import (
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRAPLCounts(t *testing.T) {
	cfg := RAPLConfig{IdleWatts: 8, DynamicWatts: 48, MaxEnergyRangeUJ: 99_999_999, StartUJ: 1000}
	start := time.Unix(1_800_000_000, 0)
	type step struct {
		at      time.Duration
		running bool
		pid     int
		use     float64
		watts   float64
		on      bool
		uj      uint64  // energy_uj after the step
		joules  float64 // the package's truth after the step
	}
	for _, tc := range []struct {
		name  string
		cfg   RAPLConfig
		uj    uint64
		steps []step
	}{
		{"off draws nothing, a power-on starts at start_uj", cfg, 5000, []step{
			{0, false, 0, 0, 0, false, 5000, 0},
			{time.Second, true, 7, 0, 8, true, 1000 + 4_000_000, 4},         // (0+8)/2·1 s
			{2 * time.Second, true, 7, 1, 56, false, 1000 + 36_000_000, 36}, // +(8+56)/2
			{3 * time.Second, false, 0, 1, 0, false, 1000 + 64_000_000, 64}, // +(56+0)/2
			{4 * time.Second, false, 0, 0, 0, false, 1000 + 64_000_000, 64},
		}},
		{"wraps past max_energy_range_uj", RAPLConfig{IdleWatts: 56, MaxEnergyRangeUJ: 99_999_999, StartUJ: 90_000_000}, 0, []step{
			{0, true, 3, 0, 56, true, 90_000_000, 0},
			{time.Second, true, 3, 0, 56, false, 90_000_000 + 56_000_000 - 100_000_000, 56},
		}},
		{"a new process is a new boot", cfg, 0, []step{
			{0, true, 3, 0.5, 32, true, 1000, 0},
			{time.Second, true, 3, 0.5, 32, false, 1000 + 32_000_000, 32},
			{2 * time.Second, true, 4, 0.5, 32, true, 1000 + 32_000_000, 64}, // reset, then the interval's energy
		}},
		{"use is clamped", cfg, 0, []step{
			{0, true, 3, 2, 56, true, 1000, 0},
			{time.Second, true, 3, math.NaN(), 8, false, 1000 + 32_000_000, 32},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRAPL(tc.cfg, tc.uj, 0)
			for i, s := range tc.steps {
				w, on := r.Add(start.Add(s.at), s.running, s.pid, s.use)
				if w != s.watts || on != s.on || r.Counter() != s.uj || math.Abs(r.Joules()-s.joules) > 1e-9 {
					t.Errorf("step %d: watts %v on %v energy_uj %d joules %v; want %v %v %d %v",
						i, w, on, r.Counter(), r.Joules(), s.watts, s.on, s.uj, s.joules)
				}
			}
		})
	}
}

func TestParseForge(t *testing.T) {
	for in, want := range map[string]Forge{
		"freeze\n":             {Freeze: true},
		" freeze ":             {Freeze: true},
		"123456789\n":          {Value: 123456789, Set: true},
		"0":                    {Value: 0, Set: true},
		"18446744073709551615": {Value: math.MaxUint64, Set: true},
	} {
		if got, err := ParseForge([]byte(in)); err != nil || got != want {
			t.Errorf("ParseForge(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "frozen", "-1", "1e6", "12 34", "18446744073709551616"} {
		if got, err := ParseForge([]byte(in)); err == nil {
			t.Errorf("ParseForge(%q) = %+v, want an error", in, got)
		}
	}
}

func FuzzParseForge(f *testing.F) {
	for _, s := range []string{"freeze", "123\n", "", "x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fg, err := ParseForge(b)
		if err == nil && fg.Freeze == fg.Set {
			t.Fatalf("ParseForge(%q) = %+v: freeze or a value, one of them", b, fg)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Fatalf("error too long for a log line: %d bytes", len(err.Error()))
		}
	})
}

// TestMeterRAPL: the meter writes a RAPL zone into the share, counts the
// package's energy from the same CPU use as the wall power, and shows a
// job's forgery until the next power-on.
func TestMeterRAPL(t *testing.T) {
	dir := t.TempDir()
	share := filepath.Join(dir, "rapl")
	cfg := Config{
		Interval: Duration(100 * time.Millisecond), CSVInterval: Duration(time.Second), Average: ptr(Duration(0)),
		Sensor: SensorTOML{NoisePercent: ptr(0.0)},
		Nodes: []NodeConfig{{Name: "vnode1", Dir: dir, CPUs: 1, IdleWatts: 40, DynamicWatts: 60, StandbyWatts: 10,
			RAPL: &RAPLConfig{Dir: share, IdleWatts: 8, DynamicWatts: 48, MaxEnergyRangeUJ: DefaultRAPLRange, StartUJ: 500}}},
	}
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	procs := &fakeProcs{}
	m, err := New(cfg, procs, clk.now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	zone := filepath.Join(share, RAPLZone)
	if got := readFile(t, filepath.Join(zone, RAPLRange)); got != "262143328850\n" {
		t.Errorf("max_energy_range_uj = %q", got)
	}
	if got := readFile(t, filepath.Join(zone, RAPLName)); got != "package-0\n" {
		t.Errorf("name = %q", got)
	}
	forge := filepath.Join(share, ForgeFile)
	steps := []struct {
		on        bool
		pid       int
		cpu       time.Duration // CPU time so far: +100 ms per 100 ms step is full use
		forge     string        // written before the step
		uj, truth string
	}{
		{false, 0, 0, "", "500\n", "0.000\n"},
		{true, 5, 0, "", "400500\n", "0.400\n"},                             // power-on, idle: +(0+8)/2·0.1 s
		{true, 5, 100 * time.Millisecond, "", "3600500\n", "3.600\n"},       // full use: +(8+56)/2·0.1 s
		{true, 5, 200 * time.Millisecond, "freeze", "9200500\n", "9.200\n"}, // frozen where it stands
		{true, 5, 300 * time.Millisecond, "freeze", "9200500\n", "14.800\n"},
		{true, 5, 400 * time.Millisecond, "42\n", "42\n", "20.400\n"},
		{true, 5, 500 * time.Millisecond, "bogus", "26000500\n", "26.000\n"}, // ignored (and logged)
		{true, 5, 600 * time.Millisecond, "freeze", "31600500\n", "31.600\n"},
		{false, 0, 0, "freeze", "31600500\n", "34.400\n"}, // off: still frozen
		{true, 6, 0, "", "400500\n", "34.800\n"},          // a new boot drops the forgery
	}
	for i, st := range steps {
		clk.t = clk.t.Add(100 * time.Millisecond)
		if st.forge != "" {
			must(t, os.WriteFile(forge, []byte(st.forge), 0o644))
		}
		procs.on, procs.pid, procs.cpu = st.on, st.pid, st.cpu
		if err := m.Step(); err != nil {
			t.Fatal(err)
		}
		checkFile(t, i, filepath.Join(zone, RAPLEnergy), st.uj)
		checkFile(t, i, filepath.Join(dir, RAPLTruth), st.truth)
	}
	if _, err := os.Stat(forge); err == nil {
		t.Error("the forge file outlived the power-on")
	}
}
