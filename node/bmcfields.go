package node

// The [bmc] table of a node (and of [defaults]): protocol, address,
// credentials named by file, port, the simulator's model watts (and the
// machine's max_watts, read the same way); and which of them each protocol
// needs.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bmc-sched/bmc/internal/tomlpos"
)

// bmc reads the node's [bmc] fields into c.BMC.
func (fs fields) bmc(c *Config) {
	if proto, ok := fs.str("bmc.protocol"); ok {
		switch proto {
		case ProtoIPMI, ProtoRedfish, ProtoAMT, ProtoRPC, ProtoWOL, ProtoSim:
			c.BMC.Protocol = proto
		default:
			fs.bad("bmc.protocol", fmt.Sprintf("%q is not a protocol (ipmi, redfish, amt, rpc, wol or sim)", proto))
		}
	} else if _, set := fs.f["bmc.protocol"]; !set {
		fs.missing("bmc.protocol")
	}
	for _, k := range []struct {
		field string
		dst   *string
	}{{"bmc.address", &c.BMC.Address}, {"bmc.user", &c.BMC.User}, {"bmc.password_file", &c.BMC.PasswordFile},
		{"bmc.cipher_suite", &c.BMC.CipherSuite}, {"bmc.power_sensor", &c.BMC.PowerSensor}} {
		if x, ok := fs.str(k.field); ok {
			if strings.ContainsFunc(x, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				fs.bad(k.field, fmt.Sprintf("%q must not contain control characters", x))
				continue
			}
			*k.dst = x
		}
	}
	if cs := c.BMC.CipherSuite; cs != "" {
		if n, err := strconv.Atoi(cs); !cipherRE.MatchString(cs) || err != nil || n > 17 {
			fs.bad("bmc.cipher_suite", fmt.Sprintf("%q is not an IPMI cipher suite (0..17)", cs))
		}
	}
	if pf := c.BMC.PasswordFile; pf != "" && !strings.HasPrefix(pf, "/") {
		fs.bad("bmc.password_file", fmt.Sprintf("%q must be an absolute path", pf))
	}
	c.BMC.Port = DefaultPort(c.BMC.Protocol)
	if n, ok := fs.integer("bmc.port"); ok {
		if n < 1 || n > 65535 {
			fs.bad("bmc.port", fmt.Sprintf("%d is outside 1..65535", n))
		} else {
			c.BMC.Port = int(n)
		}
	}
	if s, ok := fs.f["bmc.insecure"]; ok {
		if b, ok := s.v.(bool); ok {
			c.BMC.Insecure = b
		} else {
			fs.bad("bmc.insecure", "must be a boolean, not "+tomlpos.TypeName(s.v))
		}
	}
	for _, k := range []struct {
		field string
		dst   *float64
	}{{"max_watts", &c.MaxWatts}, {"idle_watts", &c.IdleWatts}, {"boot_joules", &c.BootJoules}, {"bmc.sim_idle_watts", &c.BMC.SimIdleWatts}, {"bmc.sim_peak_watts", &c.BMC.SimPeakWatts}} {
		s, ok := fs.f[k.field]
		if !ok {
			continue
		}
		var w float64
		switch x := s.v.(type) {
		case float64:
			w = x
		case int64:
			w = float64(x)
		default:
			fs.bad(k.field, "must be a number, not "+tomlpos.TypeName(s.v))
			continue
		}
		if !(w >= 0 && w <= 1e6) {
			fs.bad(k.field, fmt.Sprintf("%v is outside 0..1000000", w))
			continue
		}
		*k.dst = w
	}
	if c.BMC.SimPeakWatts != 0 && c.BMC.SimPeakWatts < c.BMC.SimIdleWatts {
		fs.bad("bmc.sim_peak_watts", fmt.Sprintf("%v is below sim_idle_watts %v", c.BMC.SimPeakWatts, c.BMC.SimIdleWatts))
	}
	fs.powerMeter(&c.BMC)

	switch c.BMC.Protocol {
	case ProtoIPMI, ProtoRedfish, ProtoAMT:
		if c.BMC.Address == "" {
			fs.requiredFor("bmc.address", c.BMC.Protocol)
		}
		if c.BMC.PasswordFile == "" {
			fs.requiredFor("bmc.password_file", c.BMC.Protocol)
		}
	case ProtoRPC:
		if c.BMC.Address == "" {
			fs.requiredFor("bmc.address", c.BMC.Protocol)
		}
	case ProtoWOL:
		if c.MAC == "" && fs.f["mac"].path == nil {
			fs.p.errs = append(fs.p.errs, &Error{Line: fs.p.line(fs.f["bmc.protocol"].path), Field: "mac", Msg: "is required for Wake-on-LAN"})
		}
	}
}

// requiredFor reports a field the protocol needs, on the protocol's line.
func (fs fields) requiredFor(field, proto string) {
	line := fs.header
	if s, ok := fs.f["bmc.protocol"]; ok {
		line = fs.p.line(s.path)
	}
	if _, set := fs.f[field]; set {
		return // present but rejected: already reported
	}
	fs.p.errs = append(fs.p.errs, &Error{Line: line, Field: field, Msg: "is required for protocol " + proto})
}
