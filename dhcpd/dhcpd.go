// Package dhcpd owns bmcctld's side of the provisioning network's DHCP: it
// gives each node the fixed address the nodes file names for its MAC (or, in
// proxy mode, leaves addresses to the site's DHCP server and adds only the
// boot options), and tells each firmware where its first boot file is: the
// iPXE chain script for iPXE, the GRUB image for UEFI HTTP Boot, an optional
// TFTP file for a plain PXE ROM. It answers only MACs it knows.
//
// Reply is a pure function of the request and the configuration; Serve puts
// it on a socket bound to one interface.
package dhcpd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Mode says whether bmcctld hands out addresses.
type Mode int

const (
	// Full: bmcctld is the DHCP server of the provisioning network.
	Full Mode = iota
	// Proxy: the site's DHCP server gives addresses; bmcctld answers boot
	// firmware (PXEClient, HTTPClient) with boot options only, as a
	// proxyDHCP server on port 67 and 4011 (PXE specification 2.1).
	Proxy
)

func (m Mode) String() string {
	if m == Proxy {
		return "proxy"
	}
	return "full"
}

// Loaders: how a node boots (node.Config.Boot).
const (
	LoaderIPXE = "ipxe"
	LoaderGRUB = "uefi-grub"
)

// Host is one node the server answers.
type Host struct {
	Name   string
	MAC    net.HardwareAddr
	Addr   netip.Addr // the fixed address; required in Full mode
	Loader string     // LoaderIPXE or LoaderGRUB
}

// Config sets up a Responder.
type Config struct {
	Mode Mode
	// ServerIP is bmcctld's address on the provisioning network: the DHCP
	// server identifier and next-server.
	ServerIP netip.Addr
	// Subnet holds every node's address (Full mode): its mask goes to the nodes.
	Subnet netip.Prefix
	// Router, if valid, is sent as the default gateway; the provisioning
	// network needs none.
	Router    netip.Addr
	LeaseTime time.Duration // 0 = DefaultLeaseTime
	// BootURL is the node listener as nodes reach it (boot.Config.NodeURL).
	BootURL string
	// IPXEPath and GRUBPath are the first boot files below BootURL:
	// "/boot.ipxe" for iPXE, "/grubaa64.efi" for UEFI HTTP Boot ("" = none).
	IPXEPath, GRUBPath string
	// PXEFile, if set, is the TFTP file (e.g. undionly.kpxe) a plain PXE
	// ROM loads to become iPXE, from TFTPServer (default ServerIP). bmcctld
	// serves no TFTP itself.
	PXEFile    string
	TFTPServer string
	Hosts      []Host
}

// DefaultLeaseTime is long enough that a node renews a few times per job
// and short enough that a reused address frees up within the hour.
const DefaultLeaseTime = time.Hour

// Responder answers DHCP requests of the known hosts.
type Responder struct {
	cfg   Config
	byMAC map[string]Host
}

// ErrConfig is returned by New for a configuration that cannot work.
var ErrConfig = errors.New("dhcp configuration")

// New checks cfg: a server address, and in Full mode every host with a
// unique address inside Subnet that is neither the server's nor the
// subnet's network or broadcast address.
func New(cfg Config) (*Responder, error) {
	if !cfg.ServerIP.Is4() {
		return nil, fmt.Errorf("%w: server address %v is not IPv4", ErrConfig, cfg.ServerIP)
	}
	if cfg.LeaseTime <= 0 {
		cfg.LeaseTime = DefaultLeaseTime
	}
	if cfg.LeaseTime < time.Minute {
		return nil, fmt.Errorf("%w: lease time %s is under a minute", ErrConfig, cfg.LeaseTime)
	}
	if !strings.HasPrefix(cfg.BootURL, "http://") && !strings.HasPrefix(cfg.BootURL, "https://") {
		return nil, fmt.Errorf("%w: boot URL %q is not http(s)", ErrConfig, cfg.BootURL)
	}
	if cfg.Mode == Full {
		if !cfg.Subnet.IsValid() || !cfg.Subnet.Addr().Is4() || cfg.Subnet.Bits() > 30 {
			return nil, fmt.Errorf("%w: subnet %v is not an IPv4 prefix of /30 or wider", ErrConfig, cfg.Subnet)
		}
		cfg.Subnet = cfg.Subnet.Masked()
		if !cfg.Subnet.Contains(cfg.ServerIP) {
			return nil, fmt.Errorf("%w: server address %s is outside %s", ErrConfig, cfg.ServerIP, cfg.Subnet)
		}
	}
	r := &Responder{cfg: cfg, byMAC: map[string]Host{}}
	addrs := map[netip.Addr]string{}
	for _, h := range cfg.Hosts {
		if len(h.MAC) != 6 {
			return nil, fmt.Errorf("%w: node %s has no MAC", ErrConfig, h.Name)
		}
		if _, dup := r.byMAC[h.MAC.String()]; dup {
			return nil, fmt.Errorf("%w: MAC %s named twice", ErrConfig, h.MAC)
		}
		if cfg.Mode == Full {
			if err := cfg.checkAddr(h.Addr); err != nil {
				return nil, fmt.Errorf("%w: node %s: %w", ErrConfig, h.Name, err)
			}
			if o, dup := addrs[h.Addr]; dup {
				return nil, fmt.Errorf("%w: nodes %s and %s share address %s", ErrConfig, o, h.Name, h.Addr)
			}
			addrs[h.Addr] = h.Name
		}
		r.byMAC[h.MAC.String()] = h
	}
	return r, nil
}

func (c Config) checkAddr(a netip.Addr) error {
	switch {
	case !a.IsValid():
		return errors.New("no address (nodes file: address)")
	case !c.Subnet.Contains(a):
		return fmt.Errorf("address %s is outside %s", a, c.Subnet)
	case a == c.ServerIP:
		return fmt.Errorf("address %s is bmcctld's own", a)
	case a == c.Subnet.Addr() || a == lastAddr(c.Subnet):
		return fmt.Errorf("address %s is the network or broadcast address of %s", a, c.Subnet)
	}
	return nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Host returns the host with mac.
func (r *Responder) Host(mac net.HardwareAddr) (Host, bool) {
	h, ok := r.byMAC[mac.String()]
	return h, ok
}
