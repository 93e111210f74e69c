package vlabmeter

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RAPLConfig is a node's emulated RAPL package-energy counter ([node.rapl]
// in meter.toml). A TCG guest has no powercap (QEMU's TCG does not emulate
// the RAPL MSRs), so the meter writes the counter a real package would show,
// fed from the same CPU use as the wall power, into Dir, which the lab
// shares into the guest (virtio-9p) and mounts over /sys/class/powercap.
type RAPLConfig struct {
	// Dir gets intel-rapl:0/{name,energy_uj,max_energy_range_uj}; a job may
	// write Dir/forge (ForgeFile).
	Dir string `toml:"dir"`
	// The package draws IdleWatts + DynamicWatts × CPU use while the
	// machine runs, nothing while it is off: only the CPU package, not the
	// memory, fans, disks, NIC, the power supply's losses or the BMC.
	IdleWatts    float64 `toml:"idle_watts"`
	DynamicWatts float64 `toml:"dynamic_watts"`
	// MaxEnergyRangeUJ is where energy_uj wraps to 0 (a real package's is
	// 262143328850 µJ, about 262 kJ).
	MaxEnergyRangeUJ uint64 `toml:"max_energy_range_uj"`
	// StartUJ is energy_uj at each power-on: a cold boot resets the MSR.
	// Near MaxEnergyRangeUJ it makes a job's counter wrap.
	StartUJ uint64 `toml:"start_uj"`
}

// Files of the RAPL emulation.
const (
	RAPLZone   = "intel-rapl:0" // the zone directory under RAPLConfig.Dir, as in sysfs
	RAPLEnergy = "energy_uj"    // the counter, µJ, in RAPLZone
	RAPLRange  = "max_energy_range_uj"
	RAPLName   = "name"           // "package-0"
	ForgeFile  = "forge"          // in RAPLConfig.Dir: "freeze" or a value in µJ
	RAPLTruth  = "package_joules" // in the node's dir (not shared): the package's true energy, J
)

// DefaultRAPLRange is a real package's max_energy_range_uj.
const DefaultRAPLRange uint64 = 262143328850

func (c *RAPLConfig) check(node string) error {
	switch {
	case !filepath.IsAbs(c.Dir):
		return fmt.Errorf("%w: node %q: rapl dir %q is not absolute", ErrConfig, node, c.Dir)
	case !(c.IdleWatts >= 0 && c.DynamicWatts >= 0 && c.IdleWatts+c.DynamicWatts <= maxSensorWatts):
		return fmt.Errorf("%w: node %q: rapl watts must be 0..%d", ErrConfig, node, maxSensorWatts)
	case c.StartUJ > c.MaxEnergyRangeUJ:
		return fmt.Errorf("%w: node %q: rapl start_uj %d beyond max_energy_range_uj %d", ErrConfig, node, c.StartUJ, c.MaxEnergyRangeUJ)
	}
	return nil
}

// RAPL is one node's package-energy counter. It is pure: time, the machine's
// state and its CPU use come in with each sample.
type RAPL struct {
	cfg     RAPLConfig
	joules  float64 // the package's energy so far: its truth, never wraps
	uj      uint64  // what energy_uj shows (unless forged)
	frac    float64 // energy not yet a whole µJ
	last    time.Time
	lastW   float64
	pid     int
	started bool
}

// NewRAPL resumes a counter at uj µJ and the truth at joules (a meter that
// restarts mid-job keeps counting).
func NewRAPL(cfg RAPLConfig, uj uint64, joules float64) *RAPL {
	return &RAPL{cfg: cfg, uj: min(uj, cfg.MaxEnergyRangeUJ), joules: joules}
}

// Add takes the machine's state at t (samples in time order): whether it
// runs, its process (a new one is a power-on, which resets the counter) and
// its CPU use 0..1. It returns the package's watts at t and whether the
// machine was just switched on.
func (r *RAPL) Add(t time.Time, running bool, pid int, use float64) (watts float64, poweredOn bool) {
	w := 0.0
	if running {
		w = r.cfg.IdleWatts + r.cfg.DynamicWatts*clamp01(use)
		if pid != r.pid {
			r.uj, r.frac, r.pid, poweredOn = r.cfg.StartUJ, 0, pid, true
		}
	} else {
		r.pid = 0
	}
	if r.started {
		if dt := t.Sub(r.last).Seconds(); dt > 0 {
			e := (r.lastW + w) / 2 * dt
			r.joules += e
			r.frac += e * 1e6
			whole := math.Floor(r.frac)
			r.frac -= whole
			// energy_uj takes the values 0 … max_energy_range_uj.
			r.uj = (r.uj + uint64(whole)) % (r.cfg.MaxEnergyRangeUJ + 1)
		}
	}
	if !r.started || t.After(r.last) {
		r.last = t
	}
	r.lastW, r.started = w, true
	return w, poweredOn
}

// Counter is energy_uj now, as the package shows it.
func (r *RAPL) Counter() uint64 { return r.uj }

// Joules is the package's true energy so far.
func (r *RAPL) Joules() float64 { return r.joules }

// Forge is what a job wrote to the forge file: freeze the counter where it
// stands, or show a value of its own. The package's truth goes on.
type Forge struct {
	Freeze bool
	Value  uint64
	Set    bool // Value is shown
}

// ParseForge reads the forge file: "freeze", or a counter value in µJ.
func ParseForge(b []byte) (Forge, error) {
	s := strings.TrimSpace(string(b))
	if s == "freeze" {
		return Forge{Freeze: true}, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return Forge{}, fmt.Errorf("forge file holds %s: want \"freeze\" or a counter value in µJ", quoted(s, 40))
	}
	return Forge{Value: v, Set: true}, nil
}

// quoted is s quoted for a log line, cut to about n bytes.
func quoted(s string, n int) string {
	q := strconv.Quote(s)
	if len(q) <= n {
		return q
	}
	return q[:n] + "…"
}
