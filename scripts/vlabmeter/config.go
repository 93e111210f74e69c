package vlabmeter

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Config is DIR/meter.toml, written by "scripts/vlab up".
type Config struct {
	Interval    Duration `toml:"interval"`     // sampling and integration period (default 20ms)
	CSVInterval Duration `toml:"csv_interval"` // truth.csv row period (default 1s)
	// Average is the window CPU use is measured over (default 500ms); "0s"
	// uses the last interval only.
	Average *Duration `toml:"average"`
	// Seed picks the sensors' noise (each node draws its own sequence).
	Seed   uint64       `toml:"seed"`
	Sensor SensorTOML   `toml:"sensor"`
	Nodes  []NodeConfig `toml:"node"`
}

// SensorTOML is the [sensor] table: the BMC's view of every node; unset
// keys take DefaultSensor's values.
type SensorTOML struct {
	Window          *Duration `toml:"window"`
	Period          *Duration `toml:"period"`
	Lag             *Duration `toml:"lag"`
	ResolutionWatts *float64  `toml:"resolution_watts"`
	NoisePercent    *float64  `toml:"noise_percent"`
}

// SensorConfig is the [sensor] table with defaults filled in.
func (c Config) SensorConfig() SensorConfig {
	s := DefaultSensor
	t := c.Sensor
	if t.Window != nil {
		s.Window = time.Duration(*t.Window)
	}
	if t.Period != nil {
		s.Period = time.Duration(*t.Period)
	}
	if t.Lag != nil {
		s.Lag = time.Duration(*t.Lag)
	}
	if t.ResolutionWatts != nil {
		s.Resolution = *t.ResolutionWatts
	}
	if t.NoisePercent != nil {
		s.Noise = *t.NoisePercent / 100
	}
	return s
}

// NodeConfig is one node's model and where its files live.
type NodeConfig struct {
	Name         string   `toml:"name"`
	Dir          string   `toml:"dir"` // holds qemu.pid; gets power_watts, energy_joules, truth.csv
	Kind         string   `toml:"kind"`
	CPUs         int      `toml:"cpus"`
	IdleWatts    float64  `toml:"idle_watts"`
	DynamicWatts float64  `toml:"dynamic_watts"`
	StandbyWatts float64  `toml:"standby_watts"`
	SurgeWatts   float64  `toml:"surge_watts"`
	SurgeTime    Duration `toml:"surge_time"`
	Smoothing    Duration `toml:"smoothing"`
	// RAPL, when set, emulates the node's package-energy counter.
	RAPL *RAPLConfig `toml:"rapl"`
}

// Model is node i's power model.
func (c Config) Model(i int) Model {
	n := c.Nodes[i]
	m := Model{IdleWatts: n.IdleWatts, DynamicWatts: n.DynamicWatts, StandbyWatts: n.StandbyWatts,
		SurgeWatts: n.SurgeWatts, SurgeTime: time.Duration(n.SurgeTime), Smoothing: time.Duration(n.Smoothing), CPUs: n.CPUs}
	if c.Average != nil {
		m.Average = time.Duration(*c.Average)
	}
	return m
}

// Duration is a time.Duration written as "100ms" in TOML.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ErrConfig marks a meter.toml that cannot be used.
var ErrConfig = errors.New("invalid meter config")

// ipmi_sim's sensor: one byte of raw value at M=4.
const maxSensorWatts = 1020

// checkSensor rejects a sensor no BMC could be: it must update, and its
// window, lag, resolution and noise must be in sane ranges.
func checkSensor(s SensorConfig) error {
	switch {
	case s.Period < 10*time.Millisecond || s.Period > time.Minute:
		return fmt.Errorf("%w: sensor period %v not in 10ms..1m", ErrConfig, s.Period)
	case s.Window < 0 || s.Window > 10*time.Minute:
		return fmt.Errorf("%w: sensor window %v not in 0..10m", ErrConfig, s.Window)
	case s.Lag < 0 || s.Lag > time.Minute:
		return fmt.Errorf("%w: sensor lag %v not in 0..1m", ErrConfig, s.Lag)
	case !(s.Resolution >= 0 && s.Resolution <= maxSensorWatts):
		return fmt.Errorf("%w: sensor resolution_watts %g not in 0..%d", ErrConfig, s.Resolution, maxSensorWatts)
	case !(s.Noise >= 0 && s.Noise <= 0.5):
		return fmt.Errorf("%w: sensor noise_percent %g not in 0..50", ErrConfig, s.Noise*100)
	}
	return nil
}

// ParseConfig reads and checks meter.toml, filling defaults.
func ParseConfig(data []byte) (c Config, err error) {
	// go-toml v2.2.4 panics on a bare sign ("x =+", found by FuzzParseConfig;
	// fixed in v2.4.x): a broken file must be an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			c, err = Config{}, fmt.Errorf("%w: %v", ErrConfig, r)
		}
	}()
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.Interval == 0 {
		c.Interval = Duration(20 * time.Millisecond)
	}
	if c.Average == nil {
		d := Duration(500 * time.Millisecond)
		c.Average = &d
	}
	if err := checkSensor(c.SensorConfig()); err != nil {
		return Config{}, err
	}
	if *c.Average < 0 || time.Duration(*c.Average) > time.Minute {
		return Config{}, fmt.Errorf("%w: average %v not in 0..1m", ErrConfig, time.Duration(*c.Average))
	}
	if c.CSVInterval == 0 {
		c.CSVInterval = Duration(time.Second)
	}
	if time.Duration(c.Interval) < 10*time.Millisecond || time.Duration(c.Interval) > 10*time.Second {
		return Config{}, fmt.Errorf("%w: interval %v not in 10ms..10s", ErrConfig, time.Duration(c.Interval))
	}
	if c.CSVInterval < c.Interval {
		return Config{}, fmt.Errorf("%w: csv_interval shorter than interval", ErrConfig)
	}
	if len(c.Nodes) == 0 {
		return Config{}, fmt.Errorf("%w: no [[node]]", ErrConfig)
	}
	seen := map[string]bool{}
	for i := range c.Nodes {
		n := &c.Nodes[i]
		switch {
		case n.Name == "":
			return Config{}, fmt.Errorf("%w: node %d has no name", ErrConfig, i+1)
		case seen[n.Name]:
			return Config{}, fmt.Errorf("%w: node %q twice", ErrConfig, n.Name)
		case !filepath.IsAbs(n.Dir):
			return Config{}, fmt.Errorf("%w: node %q: dir %q is not absolute", ErrConfig, n.Name, n.Dir)
		case !(n.IdleWatts >= 0 && n.DynamicWatts >= 0 && n.StandbyWatts >= 0 && n.SurgeWatts >= 0): // NaN too
			return Config{}, fmt.Errorf("%w: node %q: negative watts", ErrConfig, n.Name)
		case n.IdleWatts+n.DynamicWatts+n.SurgeWatts > maxSensorWatts || n.StandbyWatts > maxSensorWatts:
			return Config{}, fmt.Errorf("%w: node %q: peak %g W beyond the sensor's %d W",
				ErrConfig, n.Name, n.IdleWatts+n.DynamicWatts+n.SurgeWatts, maxSensorWatts)
		case n.SurgeTime < 0 || n.Smoothing < 0 || time.Duration(n.SurgeTime) > time.Hour || time.Duration(n.Smoothing) > time.Hour:
			return Config{}, fmt.Errorf("%w: node %q: surge_time and smoothing must be in 0..1h", ErrConfig, n.Name)
		case n.CPUs < 0 || n.CPUs > 1024:
			return Config{}, fmt.Errorf("%w: node %q: cpus %d", ErrConfig, n.Name, n.CPUs)
		}
		if n.CPUs == 0 {
			n.CPUs = 1
		}
		if r := n.RAPL; r != nil {
			if r.MaxEnergyRangeUJ == 0 {
				r.MaxEnergyRangeUJ = DefaultRAPLRange
			}
			if err := r.check(n.Name); err != nil {
				return Config{}, err
			}
		}
		seen[n.Name] = true
	}
	return c, nil
}
