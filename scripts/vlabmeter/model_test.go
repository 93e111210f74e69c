package vlabmeter

import (
	"math"
	"testing"
	"time"
)

// x86 is the lab's x86 model without smoothing or surge, so that table rows
// can be worked out by hand.
var x86 = Model{IdleWatts: 40, DynamicWatts: 60, StandbyWatts: 10, CPUs: 1}

func TestModelWatts(t *testing.T) {
	surge := Model{IdleWatts: 40, DynamicWatts: 60, StandbyWatts: 10, SurgeWatts: 30, SurgeTime: 2 * time.Second}
	tests := []struct {
		name    string
		m       Model
		running bool
		use     float64
		since   time.Duration
		want    float64
	}{
		{"off draws standby", x86, false, 1, 0, 10},
		{"idle", x86, true, 0, time.Minute, 40},
		{"full", x86, true, 1, time.Minute, 100},
		{"over one is clamped", x86, true, 1.7, time.Minute, 100},
		{"negative is idle", x86, true, -0.3, time.Minute, 40},
		{"NaN is idle", x86, true, math.NaN(), time.Minute, 40},
		{"not rounded to any sensor step", x86, true, 1.0 / 3, time.Minute, 60},
		{"fractions stay", x86, true, 0.255, time.Minute, 55.3},
		{"surge at power-on", surge, true, 0, 0, 70},
		{"surge decays", surge, true, 0, 2 * time.Second, 40 + 30/math.E},
		{"no surge while off", surge, false, 0, 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Watts(tt.running, tt.use, tt.since); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Watts(%v, %v, %v) = %v, want %v", tt.running, tt.use, tt.since, got, tt.want)
			}
		})
	}
}

func TestIntegrator(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	cpu := func(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }
	type step struct {
		s          Sample
		watts, jou float64
	}
	tests := []struct {
		name  string
		model Model
		start float64
		steps []step
	}{
		{
			name:  "off draws standby",
			model: x86,
			steps: []step{
				{Sample{Time: at(0)}, 10, 0},
				{Sample{Time: at(100)}, 10, 1},
			},
		},
		{
			name:  "power on: first sample of a process is idle, then busy",
			model: x86,
			steps: []step{
				{Sample{Time: at(0)}, 10, 0},
				{Sample{Time: at(100), Running: true, PID: 7, CPU: cpu(50)}, 40, 2.5},   // (10+40)/2·0.1
				{Sample{Time: at(200), Running: true, PID: 7, CPU: cpu(150)}, 100, 9.5}, // +7
				{Sample{Time: at(300), Running: true, PID: 7, CPU: cpu(200)}, 70, 18},   // 50 % → 70 W; +8.5
				{Sample{Time: at(400)}, 10, 22},                                         // +4
			},
		},
		{
			name:  "a new PID is a new power-on, not a CPU jump",
			model: x86,
			steps: []step{
				{Sample{Time: at(0), Running: true, PID: 1, CPU: cpu(90_000)}, 40, 0},
				{Sample{Time: at(100), Running: true, PID: 2, CPU: cpu(10)}, 40, 4},
			},
		},
		{
			name:  "resumes from a stored counter",
			model: x86,
			start: 1000,
			steps: []step{
				{Sample{Time: at(0), Running: true, PID: 3}, 40, 1000},
				{Sample{Time: at(1000), Running: true, PID: 3, CPU: cpu(1000)}, 100, 1070},
			},
		},
		{
			name:  "two vCPUs halve the use",
			model: Model{IdleWatts: 40, DynamicWatts: 60, CPUs: 2},
			steps: []step{
				{Sample{Time: at(0), Running: true, PID: 3}, 40, 0},
				{Sample{Time: at(1000), Running: true, PID: 3, CPU: cpu(1000)}, 70, 55},
			},
		},
		{
			name:  "use is measured over the window",
			model: Model{IdleWatts: 40, DynamicWatts: 60, CPUs: 1, Average: time.Second},
			steps: []step{
				{Sample{Time: at(0), Running: true, PID: 3}, 40, 0},
				{Sample{Time: at(500), Running: true, PID: 3, CPU: cpu(500)}, 100, 35},    // busy: base t=0
				{Sample{Time: at(1000), Running: true, PID: 3, CPU: cpu(500)}, 70, 77.5},  // 0.5/1.0
				{Sample{Time: at(1500), Running: true, PID: 3, CPU: cpu(500)}, 40, 105},   // base t=0.5
				{Sample{Time: at(1700), Running: false}, 0, 109},                          // standby 0 here
				{Sample{Time: at(1800), Running: true, PID: 4, CPU: cpu(900)}, 40, 111},   // new process: idle
				{Sample{Time: at(1900), Running: true, PID: 4, CPU: cpu(1000)}, 100, 118}, // window restarts
			},
		},
		{
			name:  "smoothing: a step of load reaches 1-1/e after one time constant",
			model: Model{IdleWatts: 40, DynamicWatts: 60, CPUs: 1, Smoothing: time.Second},
			steps: []step{
				{Sample{Time: at(0), Running: true, PID: 3}, 40, 0},
				{Sample{Time: at(1000), Running: true, PID: 3, CPU: cpu(1000)}, 40 + 60*(1-1/math.E), 40/2 + (40+40+60*(1-1/math.E))/2 - 20},
			},
		},
		{
			name:  "time that does not advance adds no energy",
			model: x86,
			steps: []step{
				{Sample{Time: at(0), Running: true, PID: 3}, 40, 0},
				{Sample{Time: at(0), Running: true, PID: 3, CPU: cpu(500)}, 40, 0},
				{Sample{Time: at(1000), Running: true, PID: 3, CPU: cpu(500)}, 70, 55},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := NewIntegrator(tt.model, tt.start)
			for i, st := range tt.steps {
				w, j := in.Add(st.s)
				if math.Abs(w-st.watts) > 1e-9 || math.Abs(j-st.jou) > 1e-9 {
					t.Fatalf("step %d: got %v W %v J, want %v W %v J", i, w, j, st.watts, st.jou)
				}
			}
		})
	}
}

// A steady load integrates to watts × seconds at the model's 50 Hz.
func TestIntegratorSteadyLoad(t *testing.T) {
	t0 := time.Unix(0, 0)
	in := NewIntegrator(x86, 0)
	var j float64
	for i := 0; i <= 3000; i++ { // 60 s at 50 Hz, 25 % CPU → 55 W
		_, j = in.Add(Sample{Time: t0.Add(time.Duration(i) * 20 * time.Millisecond), Running: true, PID: 9,
			CPU: time.Duration(i) * 5 * time.Millisecond})
	}
	// The first interval starts at idle (40 W): 0.02 s × (40+55)/2 = 0.95 J.
	want := 0.95 + 59.98*55
	if math.Abs(j-want) > 1e-6 {
		t.Errorf("joules = %v, want %v", j, want)
	}
}
