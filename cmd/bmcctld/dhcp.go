package main

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/spf13/pflag"

	"github.com/bmc-sched/bmc/boot"
	"github.com/bmc-sched/bmc/dhcpd"
	"github.com/bmc-sched/bmc/node"
)

// dhcpFlags configure bmcctld's DHCP on the provisioning network.
type dhcpFlags struct {
	iface    string
	proxy    bool
	router   string
	lease    time.Duration
	pxe      string
	tftp     string
	noRouter bool
}

func (d *dhcpFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&d.iface, "dhcp-interface", "", "serve DHCP on this interface of the provisioning network: each node's nodes-file address to its MAC, and its boot file")
	fl.BoolVar(&d.proxy, "dhcp-proxy", false, "proxyDHCP: leave addresses to the site's DHCP server, answer boot firmware with boot options only")
	fl.StringVar(&d.router, "dhcp-router", "", "default gateway to hand out (default: none; the provisioning network needs no route)")
	fl.DurationVar(&d.lease, "dhcp-lease", dhcpd.DefaultLeaseTime, "DHCP lease time")
	fl.StringVar(&d.pxe, "dhcp-pxe-file", "", "TFTP boot file (e.g. undionly.kpxe) for plain PXE ROMs to chainload iPXE; bmcctld serves no TFTP")
	fl.BoolVar(&d.noRouter, "dhcp-ipv6-no-router", false, "answer IPv6 router solicitations on --dhcp-interface with \"no router here\" (lifetime 0, no prefix), so firmware such as iPXE stops waiting ~15 s for one; only on a provisioning network without an IPv6 router")
	fl.StringVar(&d.tftp, "dhcp-tftp-server", "", "TFTP server of --dhcp-pxe-file (default: bmcctld's address)")
}

// newDHCP builds the responder for the real nodes: the interface's IPv4
// address is the server's, its prefix the nodes' subnet.
func newDHCP(d *dhcpFlags, nodeURL string, grub bool, cfgs []node.Config) (*dhcpd.Responder, error) {
	ifi, err := net.InterfaceByName(d.iface)
	if err != nil {
		return nil, fmt.Errorf("--dhcp-interface: %w", err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("--dhcp-interface %s: %w", d.iface, err)
	}
	var prefix netip.Prefix
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if p, err := netip.ParsePrefix(n.String()); err == nil && p.Addr().Is4() {
				prefix = p
				break
			}
		}
	}
	if !prefix.IsValid() {
		return nil, fmt.Errorf("--dhcp-interface %s has no IPv4 address", d.iface)
	}
	cfg := dhcpd.Config{Mode: dhcpd.Full, ServerIP: prefix.Addr(), Subnet: prefix.Masked(), BootURL: nodeURL,
		IPXEPath: "/boot.ipxe", PXEFile: d.pxe, TFTPServer: d.tftp}
	if grub {
		cfg.GRUBPath = boot.GRUBEFIPath
	}
	if d.proxy {
		cfg.Mode = dhcpd.Proxy
	}
	if d.router != "" {
		if cfg.Router, err = netip.ParseAddr(d.router); err != nil {
			return nil, fmt.Errorf("--dhcp-router: %w", err)
		}
	}
	cfg.LeaseTime = d.lease
	for _, c := range cfgs {
		if c.MAC == "" {
			continue // woken some other way, or netboots from the site's own setup
		}
		mac, _ := net.ParseMAC(c.MAC)
		cfg.Hosts = append(cfg.Hosts, dhcpd.Host{Name: c.Name, MAC: mac, Addr: c.Address, Loader: c.Boot})
	}
	return dhcpd.New(cfg)
}
