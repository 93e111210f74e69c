package vlabmeter

import (
	"math"
	"time"
)

// Model is a node's wall-power model: the lab's truth. Its values are model
// values, chosen for the lab, not measurements of any machine. It is not
// rounded to anything a sensor can show: the BMC's view of it is a separate,
// degraded Sensor.
type Model struct {
	IdleWatts    float64 // drawn while QEMU runs and the guest does nothing
	DynamicWatts float64 // added at full CPU use
	// StandbyWatts is drawn while the machine is off but plugged in: the
	// BMC and the power supply's standby rail.
	StandbyWatts float64
	// SurgeWatts is added at power-on (fans at full speed, disks and
	// VRMs charging during POST) and decays with time constant SurgeTime.
	SurgeWatts float64
	SurgeTime  time.Duration
	// Smoothing is the time constant of a first-order low-pass on the
	// CPU-driven part: a machine's draw follows load through VRMs, capacitors
	// and fans, not in steps of the 10 ms CPU-time accounting of the host.
	Smoothing time.Duration
	CPUs      int // vCPUs of the node; CPU use is normalised by it
	// Average is the window CPU use is measured over (0: the last interval).
	// /proc counts CPU time in 10 ms ticks, so at 50 Hz one interval holds
	// at most two ticks: a window of several intervals gives a usable rate.
	Average time.Duration
}

// Watts is the draw at (smoothed) CPU use u (0..1, clamped) while running,
// since the power-on that was sinceOn ago; StandbyWatts when off.
func (m Model) Watts(running bool, u float64, sinceOn time.Duration) float64 {
	if !running {
		return m.StandbyWatts
	}
	w := m.IdleWatts + m.DynamicWatts*clamp01(u)
	if m.SurgeWatts > 0 && m.SurgeTime > 0 && sinceOn >= 0 {
		w += m.SurgeWatts * math.Exp(-sinceOn.Seconds()/m.SurgeTime.Seconds())
	}
	return w
}

func clamp01(u float64) float64 {
	if !(u > 0) { // NaN too
		return 0
	}
	return math.Min(u, 1)
}

// Sample is one look at a node's QEMU process.
type Sample struct {
	Time    time.Time
	Running bool          // the node's QEMU process lives
	PID     int           // which process; a new PID is a new power-on
	CPU     time.Duration // user+system time the process has used so far
}

// Integrator turns a sequence of samples into the true watts and a joules
// counter (trapezoid rule at the sampling rate). It is pure: time comes in
// with the samples.
type Integrator struct {
	model     Model
	joules    float64
	last      Sample
	lastWatts float64
	started   bool
	onAt      time.Time // when the running process was first seen
	use       float64   // smoothed CPU use of the running process
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
	dt := 0.0
	if in.started {
		dt = s.Time.Sub(in.last.Time).Seconds()
	}
	// CPU use needs the same process at both ends of the window; the first
	// sample of a new process is a power-on: idle, and the surge starts.
	if !s.Running || len(in.hist) == 0 || s.PID != in.hist[0].PID {
		in.hist = in.hist[:0]
		in.use = 0
		in.onAt = s.Time
	}
	if in.started && dt > 0 && len(in.hist) > 0 {
		// Measure from the newest sample at least Average old (or the oldest).
		for len(in.hist) > 1 && s.Time.Sub(in.hist[1].Time) >= in.model.Average {
			in.hist = in.hist[1:]
		}
		base := in.hist[0]
		cpus := max(in.model.CPUs, 1)
		raw := (s.CPU - base.CPU).Seconds() / s.Time.Sub(base.Time).Seconds() / float64(cpus)
		in.use = smooth(in.use, clamp01(raw), dt, in.model.Smoothing)
	}
	watts = in.model.Watts(s.Running, in.use, s.Time.Sub(in.onAt))
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

// smooth moves prev towards x as a first-order low-pass with time constant
// tau does over dt seconds (tau 0: no smoothing).
func smooth(prev, x, dt float64, tau time.Duration) float64 {
	if tau <= 0 {
		return x
	}
	return prev + (x-prev)*(1-math.Exp(-dt/tau.Seconds()))
}

// Use is the smoothed CPU use (0..1) of the running process after the last
// sample; the package's draw (RAPL) follows it too.
func (in *Integrator) Use() float64 { return in.use }

// Joules is the counter now.
func (in *Integrator) Joules() float64 { return in.joules }
