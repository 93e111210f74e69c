package vlabmeter

import (
	"math"
	"time"
)

// Model is a node's power model. Its values are model values, chosen for the
// lab, not measurements of any machine.
type Model struct {
	IdleWatts    float64 // drawn while QEMU runs and the guest does nothing
	DynamicWatts float64 // added at full CPU use
	// StepWatts is the resolution of the BMC's sensor (ipmi_sim's M=4): the
	// model only produces values the sensor can show exactly, so the truth
	// integrates what the BMC exposes and billing differs only by sampling.
	StepWatts float64
	CPUs      int // vCPUs of the node; CPU use is normalised by it
	// Average is the window CPU use is measured over (0: the last interval).
	// Like a real BMC's averaged power reading it smooths the 10 Hz jitter of
	// a TCG guest, so a reader sampling once a second sees what was drawn.
	Average time.Duration
}

// Watts is the model's draw at cpuUse (0..1, clamped) while running, 0 when off.
func (m Model) Watts(running bool, cpuUse float64) float64 {
	if !running {
		return 0
	}
	u := 0.0
	if cpuUse > 0 { // NaN stays 0
		u = math.Min(cpuUse, 1)
	}
	w := m.IdleWatts + m.DynamicWatts*u
	if m.StepWatts > 0 {
		w = m.StepWatts * math.Round(w/m.StepWatts)
	}
	return w
}

// Sample is one look at a node's QEMU process.
type Sample struct {
	Time    time.Time
	Running bool          // the node's QEMU process lives
	PID     int           // which process; a new PID is a new power-on
	CPU     time.Duration // user+system time the process has used so far
}

// Integrator turns a sequence of samples into watts and a joules counter
// (trapezoid rule). It is pure: time comes in with the samples.
type Integrator struct {
	model     Model
	joules    float64
	last      Sample
	lastWatts float64
	started   bool
	// hist holds the running process's samples back to Average ago,
	// oldest first.
	hist []Sample
}

// NewIntegrator starts a counter at joules (a meter that restarts resumes its
// counter, like a real one).
func NewIntegrator(m Model, joules float64) *Integrator {
	return &Integrator{model: m, joules: joules}
}

// Add takes the next sample and returns the watts at that instant and the
// counter after it. Samples must come in time order; one that does not move
// time forward only updates the watts.
func (in *Integrator) Add(s Sample) (watts, joules float64) {
	use := 0.0
	dt := 0.0
	if in.started {
		dt = s.Time.Sub(in.last.Time).Seconds()
	}
	// CPU use needs the same process at both ends of the window; the first
	// sample of a new process counts as idle (one interval, 100 ms).
	if !s.Running || len(in.hist) == 0 || s.PID != in.hist[0].PID {
		in.hist = in.hist[:0]
	}
	if in.started && dt > 0 && len(in.hist) > 0 {
		// Measure from the newest sample at least Average old (or the oldest).
		for len(in.hist) > 1 && s.Time.Sub(in.hist[1].Time) >= in.model.Average {
			in.hist = in.hist[1:]
		}
		base := in.hist[0]
		cpus := in.model.CPUs
		if cpus < 1 {
			cpus = 1
		}
		use = (s.CPU - base.CPU).Seconds() / s.Time.Sub(base.Time).Seconds() / float64(cpus)
	}
	watts = in.model.Watts(s.Running, use)
	if in.started && dt > 0 {
		in.joules += (in.lastWatts + watts) / 2 * dt
	}
	if !in.started || dt > 0 {
		in.last = s
		if s.Running {
			in.hist = append(in.hist, s)
		}
	}
	in.lastWatts = watts
	in.started = true
	return watts, in.joules
}

// Joules is the counter now.
func (in *Integrator) Joules() float64 { return in.joules }
