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
	Interval    Duration `toml:"interval"`     // sampling and integration period (default 100ms)
	CSVInterval Duration `toml:"csv_interval"` // truth.csv row period (default 1s)
	// Average is the window CPU use is averaged over (default 1s); "0s" uses
	// the last interval only.
	Average *Duration    `toml:"average"`
	Nodes   []NodeConfig `toml:"node"`
}

// NodeConfig is one node's model and where its files live.
type NodeConfig struct {
	Name         string  `toml:"name"`
	Dir          string  `toml:"dir"` // holds qemu.pid; gets power_watts, energy_joules, truth.csv
	Kind         string  `toml:"kind"`
	CPUs         int     `toml:"cpus"`
	IdleWatts    float64 `toml:"idle_watts"`
	DynamicWatts float64 `toml:"dynamic_watts"`
	StepWatts    float64 `toml:"step_watts"`
}

// Model is node i's power model.
func (c Config) Model(i int) Model {
	n := c.Nodes[i]
	m := Model{IdleWatts: n.IdleWatts, DynamicWatts: n.DynamicWatts, StepWatts: n.StepWatts, CPUs: n.CPUs}
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
		c.Interval = Duration(100 * time.Millisecond)
	}
	if c.Average == nil {
		d := Duration(time.Second)
		c.Average = &d
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
		case !(n.IdleWatts >= 0 && n.DynamicWatts >= 0 && n.StepWatts >= 0): // NaN too
			return Config{}, fmt.Errorf("%w: node %q: negative watts", ErrConfig, n.Name)
		case n.IdleWatts+n.DynamicWatts > maxSensorWatts:
			return Config{}, fmt.Errorf("%w: node %q: peak %g W beyond the sensor's %d W",
				ErrConfig, n.Name, n.IdleWatts+n.DynamicWatts, maxSensorWatts)
		case n.StepWatts > maxSensorWatts:
			return Config{}, fmt.Errorf("%w: node %q: step_watts %g", ErrConfig, n.Name, n.StepWatts)
		case n.CPUs < 0 || n.CPUs > 1024:
			return Config{}, fmt.Errorf("%w: node %q: cpus %d", ErrConfig, n.Name, n.CPUs)
		}
		if n.CPUs == 0 {
			n.CPUs = 1
		}
		seen[n.Name] = true
	}
	return c, nil
}
