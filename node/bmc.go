package node

// The [bmc] table's power meter: which one, and how a BMC's readings
// describe the past.

import (
	"fmt"
	"time"
)

// Power meter choices of [node.bmc] power_meter.
const (
	// MeterAuto reads the protocol's own meter: for ipmi the SDR sensor
	// power_sensor names, else DCMI; for redfish the chassis power (and
	// its energy counter when it has one).
	MeterAuto = "auto"
	// MeterNone does not read the BMC's power: the node is billed from its
	// agent's in-band counter (RAPL) when it has one, else as estimated.
	MeterNone = "none"
)

// Bounds of the sensor timing keys: beyond them no BMC reading describes
// the power of a job.
const (
	maxPowerWindow = 10 * time.Minute
	maxPowerPeriod = time.Minute
	maxPowerLag    = time.Minute
)

// powerMeter decodes which meter the BMC's power is read with and how
// its readings describe the past (power_window, power_period, power_lag).
func (fs fields) powerMeter(b *BMC) {
	if m, ok := fs.str("bmc.power_meter"); ok {
		switch m {
		case MeterAuto, MeterNone:
			b.PowerMeter = m
		default:
			fs.bad("bmc.power_meter", fmt.Sprintf("%q is not a power meter choice (auto or none)", m))
		}
	}
	for _, k := range []struct {
		field string
		max   time.Duration
		maxS  string
		dst   *time.Duration
	}{{"bmc.power_window", maxPowerWindow, "10m", &b.PowerWindow}, {"bmc.power_period", maxPowerPeriod, "1m", &b.PowerPeriod},
		{"bmc.power_lag", maxPowerLag, "1m", &b.PowerLag}} {
		s, ok := fs.str(k.field)
		if !ok {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > k.max {
			fs.bad(k.field, fmt.Sprintf("%q is not a duration between 0s and %s, like \"1s\" or \"250ms\"", s, k.maxS))
			continue
		}
		*k.dst = d
	}
}
