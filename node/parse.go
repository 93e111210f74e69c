package node

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/internal/tomlpos"
	"github.com/bmc-sched/bmc/job"
)

// Error is one problem in a nodes file, on one line:
// "nodes.toml:12: mac: "xx" is not a MAC address".
type Error = tomlpos.Error

// ErrorList is several problems sorted by line; errors.As finds the first.
type ErrorList = tomlpos.ErrorList

// Protocols a node's BMC may speak.
const (
	ProtoIPMI    = "ipmi"
	ProtoRedfish = "redfish"
	ProtoAMT     = "amt"
	ProtoRPC     = "rpc"
	ProtoWOL     = "wol"
	ProtoSim     = "sim"
)

// Boot methods.
const (
	BootIPXE     = "ipxe"
	BootUEFIGrub = "uefi-grub"
)

// DefaultExpectedBoot is used when a node does not say how long it boots:
// long enough that backfill does not promise starts it cannot keep (the
// virtual lab's QEMU machines take about 15 s).
const DefaultExpectedBoot = 60 * time.Second

// DefaultPort is the port each protocol listens on when the file gives none.
func DefaultPort(protocol string) int {
	switch protocol {
	case ProtoIPMI:
		return 623
	case ProtoRedfish:
		return 443
	case ProtoAMT:
		return 16992
	}
	return 0
}

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	cipherRE = regexp.MustCompile(`^[0-9]{1,2}$`)
)

// Keys of a [[node]] table (and of [defaults]) and of its bmc table.
var (
	nodeKeys = []string{"address", "arch", "bmc", "boot", "boot_joules", "cores", "expected_boot", "features", "idle_watts", "kexec", "kind",
		"mac", "max_watts", "memory", "name", "partitions", "ssh_address"}
	bmcKeys = []string{"address", "cipher_suite", "insecure", "password_file", "port",
		"power_lag", "power_meter", "power_period", "power_sensor", "power_window", "protocol",
		"sim_idle_watts", "sim_peak_watts", "user"}
	// perNode keys make no sense as a default: they must differ per machine.
	perNode = map[string]bool{"name": true, "mac": true, "address": true}
)

// ParseFile reads a nodes file: an optional [defaults] table whose keys
// (including a [defaults.bmc] table) apply to every node, and one [[node]]
// table per machine. Names and MACs must be unique. Password files are named,
// never opened here.
//
// Every problem is reported, one line each, sorted by line: a *Error for one
// problem, an ErrorList for several.
func ParseFile(filename string, data []byte) ([]Config, error) {
	m, ix, err := tomlpos.Decode(data)
	if err != nil {
		var se *tomlpos.SyntaxError
		line := 0
		if errors.As(err, &se) {
			line = se.Line
		}
		return nil, &Error{File: filename, Line: line, Msg: err.Error()}
	}
	p := &parser{ix: ix}
	defaults, defaultsHinted := map[string]src{}, map[string]bool{}
	var nodes []any
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch k {
		case "defaults":
			t, ok := m[k].(map[string]any)
			if !ok {
				p.fail([]string{k}, k, fmt.Sprintf("must be a table, not %s", tomlpos.TypeName(m[k])))
				continue
			}
			defaults, defaultsHinted = p.sources(t, []string{k}, true)
		case "node":
			arr, ok := m[k].([]any)
			if !ok {
				p.fail([]string{k}, k, fmt.Sprintf("must be an array of tables ([[node]]), not %s", tomlpos.TypeName(m[k])))
				continue
			}
			nodes = arr
		default:
			p.unknown([]string{k}, k, k, []string{"defaults", "node"})
		}
	}
	if m["node"] == nil && len(p.errs) == 0 {
		p.errs = append(p.errs, &Error{Field: "node", Msg: "the file describes no machine; add a [[node]] table"})
	}

	var out []Config
	names := map[string]int{} // name -> line
	macs := map[string]int{}
	addrs := map[netip.Addr]int{}
	for i, v := range nodes {
		path := []string{"node", strconv.Itoa(i)}
		t, ok := v.(map[string]any)
		if !ok {
			p.fail(path, "node", fmt.Sprintf("must be a table, not %s", tomlpos.TypeName(v)))
			continue
		}
		before := len(p.errs)
		own, hinted := p.sources(t, path, false)
		maps.Copy(hinted, defaultsHinted)
		c := p.node(path, merge(defaults, own), hinted, p.line(path))
		if len(p.errs) > before {
			continue
		}
		if l, dup := names[c.Name]; dup {
			p.fail(append(path, "name"), "name", fmt.Sprintf("%q is already used on line %d", c.Name, l))
			continue
		}
		names[c.Name] = p.line(append(path, "name"))
		if c.MAC != "" {
			if l, dup := macs[c.MAC]; dup {
				p.fail(append(path, "mac"), "mac", fmt.Sprintf("%s is already used on line %d", c.MAC, l))
				continue
			}
			macs[c.MAC] = p.line(append(path, "mac"))
		}
		if c.Address.IsValid() {
			if l, dup := addrs[c.Address]; dup {
				p.fail(append(path, "address"), "address", fmt.Sprintf("%s is already used on line %d", c.Address, l))
				continue
			}
			addrs[c.Address] = p.line(append(path, "address"))
		}
		out = append(out, c)
	}

	for _, e := range p.errs {
		e.File = filename
	}
	slices.SortStableFunc(p.errs, func(a, b *Error) int {
		la, lb := a.Line, b.Line
		if la == 0 {
			la = math.MaxInt
		}
		if lb == 0 {
			lb = math.MaxInt
		}
		return cmp.Compare(la, lb)
	})
	switch len(p.errs) {
	case 0:
		return out, nil
	case 1:
		return nil, p.errs[0]
	}
	return nil, ErrorList(p.errs)
}

// src is one value with the path it was written at, so a value inherited
// from [defaults] is blamed on the defaults line.
type src struct {
	v    any
	path []string
}

type parser struct {
	ix   *tomlpos.Index
	errs []*Error
}

func (p *parser) line(path []string) int { return p.ix.Line(path...) }

func (p *parser) fail(path []string, field, msg string) {
	p.errs = append(p.errs, &Error{Line: p.line(path), Field: field, Msg: msg})
}

// unknown reports an unknown key and returns the known key it resembles.
func (p *parser) unknown(path []string, field, key string, known []string) string {
	msg := "unknown field"
	sug := tomlpos.Suggest(key, known)
	if sug != "" {
		msg += fmt.Sprintf("; did you mean %s?", sug)
	}
	p.fail(path, field, msg)
	return sug
}

// sources flattens a node (or defaults) table to field -> src, with the bmc
// table's keys as "bmc.key". Unknown keys are reported here; the fields they
// resemble come back in hinted, so "core" is not also reported as a missing
// "cores".
func (p *parser) sources(t map[string]any, path []string, isDefaults bool) (out map[string]src, hinted map[string]bool) {
	out, hinted = map[string]src{}, map[string]bool{}
	for k, v := range t {
		kp := append(slices.Clone(path), k)
		switch {
		case !slices.Contains(nodeKeys, k):
			hinted[p.unknown(kp, k, k, nodeKeys)] = true
		case isDefaults && perNode[k]:
			p.fail(kp, k, "must be set per node, not in [defaults]")
		case k == "bmc":
			bt, ok := v.(map[string]any)
			if !ok {
				p.fail(kp, k, fmt.Sprintf("must be a table, not %s", tomlpos.TypeName(v)))
				continue
			}
			for bk, bv := range bt {
				bp := append(slices.Clone(kp), bk)
				if !slices.Contains(bmcKeys, bk) {
					hinted["bmc."+p.unknown(bp, "bmc."+bk, bk, bmcKeys)] = true
					continue
				}
				out["bmc."+bk] = src{bv, bp}
			}
		default:
			out[k] = src{v, kp}
		}
	}
	return out, hinted
}

func merge(defaults, own map[string]src) map[string]src {
	out := maps.Clone(defaults)
	maps.Copy(out, own)
	return out
}

// node decodes one machine; header is the line of its [[node]] table, where
// missing fields are reported.
func (p *parser) node(path []string, f map[string]src, hinted map[string]bool, header int) Config {
	var c Config
	fs := fields{p: p, f: f, hinted: hinted, header: header}
	if name, ok := fs.str("name"); ok {
		if nameRE.MatchString(name) {
			c.Name = name
		} else {
			fs.bad("name", fmt.Sprintf("%q is not a node name (letters, digits, '.', '_', '-'; at most 64)", name))
		}
	} else if _, set := fs.f["name"]; !set {
		fs.missing("name")
	}
	if a, ok := fs.str("arch"); ok {
		switch strings.ToLower(a) {
		case "x86_64", "amd64", "x86-64":
			c.Arch = "x86_64"
		case "aarch64", "arm64":
			c.Arch = "aarch64"
		default:
			fs.bad("arch", fmt.Sprintf("%q is not an architecture (x86_64 or aarch64)", a))
		}
	} else if _, set := fs.f["arch"]; !set {
		fs.missing("arch")
	}
	if k, ok := fs.str("kind"); ok {
		if nameRE.MatchString(k) {
			c.Kind = k
		} else {
			fs.bad("kind", fmt.Sprintf("%q is not a kind name (letters, digits, '.', '_', '-')", k))
		}
	}
	if c.Kind == "" {
		c.Kind = c.Arch
	}
	c.Features = fs.names("features")
	c.Partitions = fs.names("partitions")
	if n, ok := fs.integer("cores"); ok {
		if n >= 1 && n <= 1<<20 {
			c.Cores = int(n)
		} else {
			fs.bad("cores", fmt.Sprintf("%d is outside 1..%d", n, 1<<20))
		}
	} else if _, set := fs.f["cores"]; !set {
		fs.missing("cores")
	}
	if s, ok := fs.f["memory"]; ok {
		switch x := s.v.(type) {
		case int64:
			if x < 1 || x > math.MaxInt64/int64(job.MiB) {
				fs.bad("memory", fmt.Sprintf("%d MiB is out of range", x))
			} else {
				c.Memory = x * int64(job.MiB)
			}
		case string:
			z, err := job.ParseSize(x)
			switch {
			case err != nil:
				fs.bad("memory", err.Error())
			case z <= 0:
				fs.bad("memory", fmt.Sprintf("%q must be positive", x))
			default:
				c.Memory = int64(z)
			}
		default:
			fs.bad("memory", `must be an integer (MiB) or a size string like "4G", not `+tomlpos.TypeName(s.v))
		}
	} else {
		fs.missing("memory")
	}
	if mac, ok := fs.str("mac"); ok {
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 {
			fs.bad("mac", fmt.Sprintf("%q is not a MAC address", mac))
		} else {
			c.MAC = hw.String()
		}
	}
	c.Boot = BootIPXE
	if b, ok := fs.str("boot"); ok {
		switch b {
		case BootIPXE, BootUEFIGrub:
			c.Boot = b
		default:
			fs.bad("boot", fmt.Sprintf("%q is not a boot method (ipxe or uefi-grub)", b))
		}
	}
	c.ExpectedBoot = DefaultExpectedBoot
	if d, ok := fs.str("expected_boot"); ok {
		td, err := time.ParseDuration(d)
		if err != nil || td <= 0 || td > 24*time.Hour {
			fs.bad("expected_boot", fmt.Sprintf("%q is not a duration between 0 and 24h, like \"90s\"", d))
		} else {
			c.ExpectedBoot = td
		}
	}
	if a, ok := fs.str("address"); ok {
		ip, err := netip.ParseAddr(a)
		switch {
		case err != nil || !ip.Is4():
			fs.bad("address", fmt.Sprintf("%q is not an IPv4 address", a))
		case !ip.IsGlobalUnicast():
			fs.bad("address", fmt.Sprintf("%s is not a unicast host address", a))
		default:
			c.Address = ip
		}
	}
	if a, ok := fs.str("ssh_address"); ok {
		if err := checkHostPort(a); err != nil {
			fs.bad("ssh_address", err.Error())
		} else {
			c.SSHAddress = a
		}
	}
	if b, ok := fs.boolean("kexec"); ok {
		c.Kexec = b
	}
	fs.bmc(&c)
	return c
}

func checkHostPort(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return fmt.Errorf("%q is not host:port", a)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port must be 1..65535", a)
	}
	return nil
}
