package vlabmeter

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"
)

// SensorConfig is how a BMC sees the wall power: a degraded view of the
// model's truth. The defaults (DefaultSensor) follow real BMC documentation;
// docs/vlab.md lists the sources.
type SensorConfig struct {
	// Window is the rolling average a reading covers.
	Window time.Duration
	// Period is how often the reading changes.
	Period time.Duration
	// Lag is how long after its window ends a reading becomes visible
	// (conversion, I2C/PMBus read, the BMC's internal bus).
	Lag time.Duration
	// Resolution is the step of the reading in watts (0: none).
	Resolution float64
	// Noise is the standard deviation of a reading's error as a fraction of
	// the reading (0.02 = 2 %), drawn independently for each update.
	Noise float64
}

// DefaultSensor is the sensor of a lab node unless meter.toml says otherwise:
//   - Period 1 s: OpenBMC dbus-sensors polls a PSU's PMBus READ_PIN every
//     second (PSUSensor.hpp: defaultSensorPoll = 1.0 s); IPMI power sensors
//     rarely change faster than once a second.
//   - Window 1 s: the reading is the mean over that poll period.
//   - Lag 250 ms: a lab choice (no vendor documents it): one I2C read and
//     one D-Bus hop after the window closes.
//   - Resolution 4 W: the lab's "Sys Power" SDR record (M=4, one byte).
//   - Noise 2 %: HPE quotes ±5 % tolerance for its power readings (SL-APM
//     user guide, "Power capping and measurement tolerance"); a 2 % standard
//     deviation keeps ~95 % of readings inside ±4 %.
var DefaultSensor = SensorConfig{
	Window:     time.Second,
	Period:     time.Second,
	Lag:        250 * time.Millisecond,
	Resolution: 4,
	Noise:      0.02,
}

// Sensor turns the truth, sampled at the model's rate, into what the BMC
// shows. It is pure: time comes in with the samples, and the noise is drawn
// from a generator seeded per node, so a run can be replayed.
type Sensor struct {
	cfg  SensorConfig
	rng  *rand.Rand
	hist []point // truth samples back to Window+Lag ago, oldest first
	next time.Time
	// shown is what the BMC shows now; pending are computed readings
	// waiting out their Lag.
	shown   float64
	pending []point
	started bool
}

type point struct {
	t time.Time
	w float64
}

// NewSensor returns the sensor of the node called name; seed and name pick
// its noise sequence.
func NewSensor(cfg SensorConfig, seed uint64, name string) *Sensor {
	h := fnv.New64a()
	h.Write([]byte(name))
	return &Sensor{cfg: cfg, rng: rand.New(rand.NewPCG(seed, h.Sum64()))}
}

// Add takes the true watts at t (in time order) and returns the reading the
// BMC shows at t.
func (s *Sensor) Add(t time.Time, watts float64) float64 {
	if !s.started {
		// The BMC has been watching since before the lab started: its
		// first reading is the power now.
		s.started = true
		s.shown = s.degrade(watts)
		s.next = t.Add(s.cfg.Period)
		s.hist = append(s.hist, point{t, watts})
		return s.shown
	}
	if n := len(s.hist); n > 0 && !t.After(s.hist[n-1].t) {
		s.hist[n-1].w = watts
	} else {
		s.hist = append(s.hist, point{t, watts})
	}
	for s.cfg.Period > 0 && !t.Before(s.next) {
		s.pending = append(s.pending, point{s.next.Add(s.cfg.Lag), s.degrade(s.mean(s.next.Add(-s.cfg.Window), s.next))})
		s.next = s.next.Add(s.cfg.Period)
	}
	for len(s.pending) > 0 && !t.Before(s.pending[0].t) {
		s.shown = s.pending[0].w
		s.pending = s.pending[1:]
	}
	// Keep what the next window needs (and one sample before it).
	keep := s.next.Add(-s.cfg.Window)
	for len(s.hist) > 2 && !s.hist[1].t.After(keep) {
		s.hist = s.hist[1:]
	}
	return s.shown
}

// mean is the time-weighted mean of the truth over [a, b], the samples
// joined by straight lines and the first held before it; a window of no
// length takes the value at b.
func (s *Sensor) mean(a, b time.Time) float64 {
	at := func(t time.Time) float64 {
		h := s.hist
		if !t.After(h[0].t) {
			return h[0].w
		}
		for i := 1; i < len(h); i++ {
			if !t.After(h[i].t) {
				f := t.Sub(h[i-1].t).Seconds() / h[i].t.Sub(h[i-1].t).Seconds()
				return h[i-1].w + f*(h[i].w-h[i-1].w)
			}
		}
		return h[len(h)-1].w
	}
	if !b.After(a) {
		return at(b)
	}
	// Integrate over the breakpoints inside (a, b).
	var e float64
	prevT, prevW := a, at(a)
	for _, p := range s.hist {
		if !p.t.After(a) || !p.t.Before(b) {
			continue
		}
		e += (prevW + p.w) / 2 * p.t.Sub(prevT).Seconds()
		prevT, prevW = p.t, p.w
	}
	bw := at(b)
	e += (prevW + bw) / 2 * b.Sub(prevT).Seconds()
	return e / b.Sub(a).Seconds()
}

// degrade adds the reading's noise and rounds it to the resolution.
func (s *Sensor) degrade(w float64) float64 {
	if s.cfg.Noise > 0 {
		w *= 1 + s.cfg.Noise*s.rng.NormFloat64()
	}
	if s.cfg.Resolution > 0 {
		w = s.cfg.Resolution * math.Round(w/s.cfg.Resolution)
	}
	return math.Max(w, 0)
}
