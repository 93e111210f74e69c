package node

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/internal/tomlpos"
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

// bmc decodes a node's [node.bmc] table; mac is the node's, which
// Wake-on-LAN needs.
func (p *parser) bmc(fs fields, header int, mac string) BMC {
	var b BMC
	f := fs.f
	if proto, ok := fs.str("bmc.protocol"); ok {
		switch proto {
		case ProtoIPMI, ProtoRedfish, ProtoAMT, ProtoRPC, ProtoWOL, ProtoSim:
			b.Protocol = proto
		default:
			fs.bad("bmc.protocol", fmt.Sprintf("%q is not a protocol (ipmi, redfish, amt, rpc, wol or sim)", proto))
		}
	} else if _, set := f["bmc.protocol"]; !set {
		fs.missing("bmc.protocol")
	}
	for _, k := range []struct {
		field string
		dst   *string
	}{{"bmc.address", &b.Address}, {"bmc.user", &b.User}, {"bmc.password_file", &b.PasswordFile},
		{"bmc.cipher_suite", &b.CipherSuite}, {"bmc.power_sensor", &b.PowerSensor}} {
		if x, ok := fs.str(k.field); ok {
			if strings.ContainsFunc(x, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				fs.bad(k.field, fmt.Sprintf("%q must not contain control characters", x))
				continue
			}
			*k.dst = x
		}
	}
	if cs := b.CipherSuite; cs != "" {
		if n, err := strconv.Atoi(cs); !cipherRE.MatchString(cs) || err != nil || n > 17 {
			fs.bad("bmc.cipher_suite", fmt.Sprintf("%q is not an IPMI cipher suite (0..17)", cs))
		}
	}
	if pf := b.PasswordFile; pf != "" && !strings.HasPrefix(pf, "/") {
		fs.bad("bmc.password_file", fmt.Sprintf("%q must be an absolute path", pf))
	}
	b.Port = DefaultPort(b.Protocol)
	if n, ok := fs.integer("bmc.port"); ok {
		if n < 1 || n > 65535 {
			fs.bad("bmc.port", fmt.Sprintf("%d is outside 1..65535", n))
		} else {
			b.Port = int(n)
		}
	}
	if s, ok := f["bmc.insecure"]; ok {
		if v, ok := s.v.(bool); ok {
			b.Insecure = v
		} else {
			fs.bad("bmc.insecure", "must be a boolean, not "+tomlpos.TypeName(s.v))
		}
	}
	b.SimIdleWatts, _ = fs.watts("bmc.sim_idle_watts")
	b.SimPeakWatts, _ = fs.watts("bmc.sim_peak_watts")
	if b.SimPeakWatts != 0 && b.SimPeakWatts < b.SimIdleWatts {
		fs.bad("bmc.sim_peak_watts", fmt.Sprintf("%v is below sim_idle_watts %v", b.SimPeakWatts, b.SimIdleWatts))
	}
	p.powerMeter(fs, &b)

	switch b.Protocol {
	case ProtoIPMI, ProtoRedfish, ProtoAMT:
		if b.Address == "" {
			p.requiredFor(f, header, "bmc.address", b.Protocol)
		}
		if b.PasswordFile == "" {
			p.requiredFor(f, header, "bmc.password_file", b.Protocol)
		}
	case ProtoRPC:
		if b.Address == "" {
			p.requiredFor(f, header, "bmc.address", b.Protocol)
		}
	case ProtoWOL:
		if mac == "" && f["mac"].path == nil {
			p.errs = append(p.errs, &Error{Line: p.line(f["bmc.protocol"].path), Field: "mac", Msg: "is required for Wake-on-LAN"})
		}
	}
	return b
}

// powerMeter decodes which meter the BMC's power is read with and how
// its readings describe the past (power_window, power_period, power_lag).
func (p *parser) powerMeter(fs fields, b *BMC) {
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
