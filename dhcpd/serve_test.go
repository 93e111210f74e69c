package dhcpd

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"github.com/bmc-sched/bmc/internal/testenv"
)

// inNS runs f on a thread inside the named network namespace; sockets f
// makes stay there.
func inNS(t *testing.T, name string, f func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is left in the namespace: never unlocked, it dies with
		// the goroutine instead of going back to the pool.
		ns, err := netns.GetFromName(name)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// testNetwork makes a namespace with a veth pair: srv (10.99.0.1/24, the
// server's side) and node (no address, the client's). Nothing routes out.
func testNetwork(t *testing.T) string {
	t.Helper()
	testenv.NeedRoot(t, "make a network namespace")
	name := fmt.Sprintf("bmcdhcp-%d", os.Getpid())
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	run("netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	// Link-local addresses without duplicate detection: usable at once.
	if out, err := exec.Command("ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0").CombinedOutput(); err != nil {
		t.Fatalf("sysctl: %v\n%s", err, out)
	}
	run("-n", name, "link", "add", "srv", "type", "veth", "peer", "name", "node")
	run("-n", name, "link", "set", "node", "address", "52:54:00:00:00:01")
	run("-n", name, "addr", "add", "10.99.0.1/24", "dev", "srv")
	run("-n", name, "link", "set", "srv", "up")
	run("-n", name, "link", "set", "node", "up")
	run("-n", name, "link", "set", "lo", "up")
	return name
}

// The server on a real socket: the node agent's own DHCP client (nclient4,
// as bmcinit uses it) gets the node's fixed address through the kernel's
// broadcast path, and a stranger's MAC gets nothing.
func TestServeLeasesTheFixedAddress(t *testing.T) {
	name := testNetwork(t)
	cfg := labConfig(Full)
	cfg.ServerIP = netip.MustParseAddr("10.99.0.1")
	cfg.Subnet = netip.MustParsePrefix("10.99.0.0/24")
	cfg.BootURL = "http://10.99.0.1:8150"
	cfg.Hosts[0].Addr = netip.MustParseAddr("10.99.0.11")
	cfg.Hosts[1].Addr = netip.MustParseAddr("10.99.0.12")
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	decisions := make(chan Decision, 16)
	started := make(chan struct{})
	go func() {
		served <- inNS(t, name, func() error {
			close(started)
			return r.Serve(ctx, "srv", nil, func(d Decision) { decisions <- d })
		})
	}()
	<-started
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	var lease *nclient4.Lease
	err = inNS(t, name, func() error {
		c, err := nclient4.New("node", nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(5))
		if err != nil {
			return err
		}
		defer c.Close()
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		defer rcancel()
		lease, err = c.Request(rctx)
		return err
	})
	if err != nil {
		t.Fatalf("DHCP through the server: %v", err)
	}
	ack := lease.ACK
	if !ack.YourIPAddr.Equal(net.IPv4(10, 99, 0, 11)) || ack.HostName() != "vnode1" ||
		!net.IP(ack.SubnetMask()).Equal(net.IP(net.CIDRMask(24, 32))) || ack.IPAddressLeaseTime(0) != time.Hour {
		t.Errorf("lease: %s", ack.Summary())
	}
	if ack.BootFileName != "" {
		t.Errorf("the agent's DHCP got boot file %q", ack.BootFileName)
	}
	got := []string{}
	for len(got) < 2 {
		select {
		case d := <-decisions:
			got = append(got, d.Reply.MessageType().String())
		case <-time.After(10 * time.Second):
			t.Fatalf("decisions seen: %v", got)
		}
	}
	if got[0] != dhcpv4.MessageTypeOffer.String() || got[1] != dhcpv4.MessageTypeAck.String() {
		t.Errorf("replies %v, want OFFER then ACK", got)
	}

	// A MAC the nodes file does not name is not answered.
	exec.Command("ip", "-n", name, "link", "set", "node", "address", "52:54:00:99:99:99").Run()
	err = inNS(t, name, func() error {
		c, err := nclient4.New("node", nclient4.WithTimeout(time.Second), nclient4.WithRetry(1))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Request(ctx)
		return err
	})
	if err == nil {
		t.Fatal("a stranger got a lease")
	}
	select {
	case d := <-decisions:
		if d.Reply != nil || d.Reason != IgnoreUnknownMAC {
			t.Errorf("stranger: reply %v reason %q", d.Reply != nil, d.Reason)
		}
	case <-time.After(5 * time.Second):
		t.Error("the stranger's request was never seen")
	}
}

func TestNeighbours(t *testing.T) {
	name := testNetwork(t)
	if out, err := exec.Command("ip", "-n", name, "neigh", "replace", "10.99.0.11", "lladdr", "52:54:00:00:00:01", "dev", "srv").CombinedOutput(); err != nil {
		t.Fatalf("ip neigh: %v\n%s", err, out)
	}
	err := inNS(t, name, func() error {
		lookup, err := Neighbours("srv")
		if err != nil {
			return err
		}
		if mac, ok := lookup(netip.MustParseAddr("10.99.0.11")); !ok || mac.String() != "52:54:00:00:00:01" {
			return fmt.Errorf("10.99.0.11: %v %v", mac, ok)
		}
		if mac, ok := lookup(netip.MustParseAddr("10.99.0.12")); ok {
			return fmt.Errorf("10.99.0.12 has no entry, got %v", mac)
		}
		if _, err := Neighbours("nosuch0"); err == nil {
			return fmt.Errorf("a missing interface was accepted")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The no-router advertisement answers a solicitation on the link, with
// lifetime 0 and no prefix.
func TestServeNoRouter(t *testing.T) {
	name := testNetwork(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- inNS(t, name, func() error { return ServeNoRouter(ctx, "srv", nil) }) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("ServeNoRouter: %v", err)
		}
	}()
	err := inNS(t, name, func() error {
		c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
		if err != nil {
			return err
		}
		defer c.Close()
		p := c.IPv6PacketConn()
		node, err := net.InterfaceByName("node")
		if err != nil {
			return err
		}
		p.SetMulticastInterface(node)
		p.SetMulticastHopLimit(255)
		p.JoinGroup(node, &net.IPAddr{IP: net.ParseIP("ff02::1"), Zone: "node"})
		rs, _ := (&icmp.Message{Type: ipv6.ICMPTypeRouterSolicitation, Body: &icmp.RawBody{Data: make([]byte, 4)}}).Marshal(nil)
		buf := make([]byte, 1500)
		// The server may not listen yet: solicit again, as firmware does.
		for try := 0; try < 20; try++ {
			if _, err := p.WriteTo(rs, nil, &net.IPAddr{IP: net.ParseIP("ff02::2"), Zone: "node"}); err != nil {
				return fmt.Errorf("send RS: %w", err)
			}
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			for {
				n, _, _, err := p.ReadFrom(buf)
				if err != nil {
					break
				}
				m, err := icmp.ParseMessage(58, buf[:n])
				if err != nil || m.Type != ipv6.ICMPTypeRouterAdvertisement {
					continue
				}
				body := m.Body.(*icmp.RawBody).Data
				if routerLifetime(body) != 0 || len(body) != 20 || body[1] != 0 {
					return fmt.Errorf("advertisement %x: want lifetime 0, no flags, only the link-layer option", body)
				}
				return nil
			}
		}
		return fmt.Errorf("no router advertisement")
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestParseSolicitation(t *testing.T) {
	rs, _ := (&icmp.Message{Type: ipv6.ICMPTypeRouterSolicitation, Body: &icmp.RawBody{Data: make([]byte, 4)}}).Marshal(nil)
	ra, _ := (&icmp.Message{Type: ipv6.ICMPTypeRouterAdvertisement, Body: &icmp.RawBody{Data: NoRouterAdvertisement(nil)}}).Marshal(nil)
	for _, tt := range []struct {
		name string
		b    []byte
		ok   bool
	}{{"solicitation", rs, true}, {"advertisement", ra, false}, {"short", rs[:2], false}, {"empty", nil, false}} {
		if err := parseSolicitation(tt.b); (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func FuzzParseSolicitation(f *testing.F) {
	rs, _ := (&icmp.Message{Type: ipv6.ICMPTypeRouterSolicitation, Body: &icmp.RawBody{Data: make([]byte, 4)}}).Marshal(nil)
	f.Add(rs)
	f.Fuzz(func(t *testing.T, b []byte) { parseSolicitation(b) })
}
