package dhcpd

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// Neighbours returns a lookup of the kernel's neighbour (ARP) table on
// iface: the MAC this host last saw use an address there. The boot server
// uses it to bind a boot to the node's MAC as well as its address, which
// is only meaningful for nodes on the same link.
func Neighbours(iface string) (func(netip.Addr) (net.HardwareAddr, bool), error) {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("dhcp: interface %s: %w", iface, err)
	}
	idx := link.Attrs().Index
	return func(a netip.Addr) (net.HardwareAddr, bool) {
		entries, err := netlink.NeighList(idx, netlink.FAMILY_V4)
		if err != nil {
			return nil, false
		}
		for _, n := range entries {
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok || ip.Unmap() != a || len(n.HardwareAddr) != 6 {
				continue
			}
			if n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) != 0 {
				return nil, false
			}
			return n.HardwareAddr, true
		}
		return nil, false
	}, nil
}
