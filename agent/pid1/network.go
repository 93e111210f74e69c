package pid1

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
)

// ErrNetwork means the node could not get onto the network.
var ErrNetwork = errors.New("bmcinit: network")

// Lease is the address DHCP gave the node.
type Lease struct {
	Iface  string
	Addr   net.IPNet
	Router net.IP
	DNS    []net.IP

	client *nclient4.Client // kept open to renew
	raw    *nclient4.Lease
}

// waitFor polls cond every step until it holds or ctx ends.
func waitFor(ctx context.Context, step time.Duration, cond func() bool) bool {
	t := time.NewTicker(step)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// firstEthernet returns the lowest-index ethernet link: the NIC the firmware
// booted from is the only one on the lab's machines.
func firstEthernet() (netlink.Link, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Attrs().Index < links[j].Attrs().Index })
	for _, l := range links {
		a := l.Attrs()
		if a.EncapType == "ether" && l.Type() == "device" && len(a.HardwareAddr) == 6 {
			return l, nil
		}
	}
	return nil, nil
}

func carrier(name string) bool {
	b, err := os.ReadFile("/sys/class/net/" + name + "/carrier")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// bringUpNetwork: lo up, wait for the NIC, wait for carrier (the first
// DHCP discovers are lost without it), DHCP, configure address and route.
func bringUpNetwork(ctx context.Context, log *slog.Logger) (Lease, error) {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		if err := netlink.LinkSetUp(lo); err != nil {
			log.Warn("lo up failed", "err", err)
		}
	}
	var link netlink.Link
	var listErr error
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	ok := waitFor(wctx, 100*time.Millisecond, func() bool {
		link, listErr = firstEthernet()
		return link != nil
	})
	cancel()
	if !ok {
		return Lease{}, fmt.Errorf("%w: no ethernet interface after 10s (NIC module missing from modules.order?): %v", ErrNetwork, listErr)
	}
	name := link.Attrs().Name
	if err := netlink.LinkSetUp(link); err != nil {
		return Lease{}, fmt.Errorf("%w: %s up: %w", ErrNetwork, name, err)
	}
	wctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	ok = waitFor(wctx, 50*time.Millisecond, func() bool { return carrier(name) })
	cancel()
	log.Info("link up", "iface", name, "mac", link.Attrs().HardwareAddr.String(), "carrier", ok)

	lease, err := dhcp(ctx, name)
	if err != nil {
		return Lease{}, err
	}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: &lease.Addr}); err != nil {
		return Lease{}, fmt.Errorf("%w: address %s: %w", ErrNetwork, lease.Addr.String(), err)
	}
	if lease.Router != nil {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: lease.Router}
		if err := netlink.RouteReplace(r); err != nil {
			return Lease{}, fmt.Errorf("%w: default route via %s: %w", ErrNetwork, lease.Router, err)
		}
	}
	if err := os.WriteFile("/etc/resolv.conf", []byte(ResolvConf(lease.DNS)), 0o644); err != nil {
		log.Warn("resolv.conf not written", "err", err)
	}
	log.Info("dhcp lease", "iface", name, "addr", lease.Addr.String(), "router", lease.Router, "dns", len(lease.DNS))
	return lease, nil
}

func dhcp(ctx context.Context, iface string) (Lease, error) {
	c, err := nclient4.New(iface, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(5))
	if err != nil {
		return Lease{}, fmt.Errorf("%w: dhcp client on %s: %w", ErrNetwork, iface, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, err := c.Request(ctx)
	if err != nil {
		c.Close()
		return Lease{}, fmt.Errorf("%w: dhcp on %s: %w", ErrNetwork, iface, err)
	}
	lease, err := leaseFromACK(iface, l.ACK)
	if err != nil {
		c.Close()
		return Lease{}, err
	}
	lease.client, lease.raw = c, l
	return lease, nil
}

// keepLease renews the lease at T1 for as long as the node runs, so a job
// longer than the lease keeps its address in the DHCP server's books. The
// address itself is configured without a lifetime: a server that stops
// answering costs a warning, not the job's network.
func keepLease(ctx context.Context, log *slog.Logger, l Lease) {
	if l.client == nil {
		return
	}
	defer l.client.Close()
	raw := l.raw
	for {
		leaseTime := raw.ACK.IPAddressLeaseTime(24 * time.Hour)
		t1 := raw.ACK.IPAddressRenewalTime(leaseTime / 2)
		expires := raw.CreationTime.Add(leaseTime)
		wait := t1
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			next, err := l.client.Renew(rctx, raw)
			cancel()
			if err == nil {
				raw = next
				log.Info("dhcp lease renewed", "iface", l.Iface, "seconds", raw.ACK.IPAddressLeaseTime(leaseTime).Seconds())
				break
			}
			left := time.Until(expires)
			log.Warn("dhcp renew failed", "iface", l.Iface, "err", err, "lease_left", left.Round(time.Second).String())
			wait = max(min(left/2, time.Minute), 10*time.Second)
		}
	}
}

func leaseFromACK(iface string, ack *dhcpv4.DHCPv4) (Lease, error) {
	ip := ack.YourIPAddr.To4()
	if ip == nil || ip.IsUnspecified() {
		return Lease{}, fmt.Errorf("%w: dhcp ack without an address", ErrNetwork)
	}
	mask := ack.SubnetMask()
	if mask == nil {
		mask = ip.DefaultMask()
	}
	l := Lease{Iface: iface, Addr: net.IPNet{IP: ip, Mask: mask}, DNS: ack.DNS()}
	if rs := ack.Router(); len(rs) > 0 {
		l.Router = rs[0]
	}
	return l, nil
}

// ResolvConf renders resolv.conf for the lease's name servers.
func ResolvConf(dns []net.IP) string {
	var b strings.Builder
	b.WriteString("# written by bmcinit from DHCP\n")
	for _, d := range dns {
		b.WriteString("nameserver " + d.String() + "\n")
	}
	return b.String()
}
