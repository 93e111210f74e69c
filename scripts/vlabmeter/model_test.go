package vlabmeter

import (
	"math"
	"testing"
	"time"
)

var x86 = Model{IdleWatts: 40, DynamicWatts: 60, StepWatts: 4, CPUs: 1}

func TestModelWatts(t *testing.T) {
	tests := []struct {
		name    string
		m       Model
		running bool
		use     float64
		want    float64
	}{
		{"off draws nothing", x86, false, 1, 0},
		{"idle", x86, true, 0, 40},
		{"full", x86, true, 1, 100},
		{"over one is clamped", x86, true, 1.7, 100},
		{"negative is idle", x86, true, -0.3, 40},
		{"NaN is idle", x86, true, math.NaN(), 40},
		{"half rounds to the sensor step", x86, true, 0.5, 72},      // 70 → 72
		{"a third rounds down to the step", x86, true, 1.0 / 3, 60}, // 60
		{"no step keeps fractions", Model{IdleWatts: 40, DynamicWatts: 60}, true, 0.25, 55},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Watts(tt.running, tt.use); got != tt.want {
				t.Errorf("Watts(%v, %v) = %v, want %v", tt.running, tt.use, got, tt.want)
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
			name:  "off stays at zero",
			model: x86,
			steps: []step{
				{Sample{Time: at(0)}, 0, 0},
				{Sample{Time: at(100)}, 0, 0},
			},
		},
		{
			name:  "power on: first sample of a process is idle, then busy",
			model: x86,
			steps: []step{
				{Sample{Time: at(0)}, 0, 0},
				{Sample{Time: at(100), Running: true, PID: 7, CPU: cpu(50)}, 40, 2},     // (0+40)/2·0.1
				{Sample{Time: at(200), Running: true, PID: 7, CPU: cpu(150)}, 100, 9},   // +7
				{Sample{Time: at(300), Running: true, PID: 7, CPU: cpu(200)}, 72, 17.6}, // 50% → 70 → 72; +8.6
				{Sample{Time: at(400)}, 0, 21.2},                                        // +3.6
				{Sample{Time: at(1400)}, 0, 21.2},
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
			model: Model{IdleWatts: 40, DynamicWatts: 60, StepWatts: 4, CPUs: 2},
			steps: []step{
				{Sample{Time: at(0), Running: true, PID: 3}, 40, 0},
				{Sample{Time: at(1000), Running: true, PID: 3, CPU: cpu(1000)}, 72, 56},
			},
		},
		{
			name:  "use is averaged over the window",
			model: Model{IdleWatts: 40, DynamicWatts: 60, StepWatts: 4, CPUs: 1, Average: time.Second},
			steps: []step{
				{Sample{Time: at(0), Running: true, PID: 3}, 40, 0},
				{Sample{Time: at(500), Running: true, PID: 3, CPU: cpu(500)}, 100, 35},      // busy: base t=0
				{Sample{Time: at(1000), Running: true, PID: 3, CPU: cpu(500)}, 72, 78},      // idle half: 0.5/1.0
				{Sample{Time: at(1500), Running: true, PID: 3, CPU: cpu(500)}, 40, 106},     // base t=0.5
				{Sample{Time: at(1600), Running: true, PID: 3, CPU: cpu(600)}, 44, 110.2},   // base t=0.5: 0.1/1.1 → 45.5 → 44
				{Sample{Time: at(1700), Running: false}, 0, 112.4},                          // off clears the window
				{Sample{Time: at(1800), Running: true, PID: 4, CPU: cpu(900)}, 40, 114.4},   // new process: idle
				{Sample{Time: at(1900), Running: true, PID: 4, CPU: cpu(1000)}, 100, 121.4}, // window restarts
			},
		},
		{
			name:  "time that does not advance adds no energy",
			model: x86,
			steps: []step{
				{Sample{Time: at(0), Running: true, PID: 3}, 40, 0},
				{Sample{Time: at(0), Running: true, PID: 3, CPU: cpu(500)}, 40, 0},
				{Sample{Time: at(1000), Running: true, PID: 3, CPU: cpu(500)}, 72, 56},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := NewIntegrator(tt.model, tt.start)
			for i, st := range tt.steps {
				w, j := in.Add(st.s)
				if w != st.watts || math.Abs(j-st.jou) > 1e-9 {
					t.Fatalf("step %d: got %v W %v J, want %v W %v J", i, w, j, st.watts, st.jou)
				}
			}
		})
	}
}

// A steady load integrates to watts × seconds whatever the sampling rate.
func TestIntegratorSteadyLoad(t *testing.T) {
	t0 := time.Unix(0, 0)
	in := NewIntegrator(x86, 0)
	var j float64
	for i := 0; i <= 600; i++ { // 60 s at 10 Hz, 25% CPU → 55 → 56 W
		_, j = in.Add(Sample{Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), Running: true, PID: 9,
			CPU: time.Duration(i) * 25 * time.Millisecond})
	}
	// The first interval starts at idle (40 W): 0.1 s × (40+56)/2 = 4.8 J.
	want := 4.8 + 59.9*56
	if math.Abs(j-want) > 1e-6 {
		t.Errorf("joules = %v, want %v", j, want)
	}
}
