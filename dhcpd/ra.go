package dhcpd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// Boot firmware configures IPv6 beside IPv4 and waits for a router
// advertisement: iPXE's autoboot does not fetch its boot file until every
// configurator is done, which on a network without an IPv6 router takes
// about 15 s of router solicitations (measured in the lab). On an
// IPv4-only provisioning network bmcctld answers each solicitation with an
// advertisement that says there is no router here: lifetime 0, no prefix,
// no managed or other-config flag. Firmware then stops waiting, and no
// machine takes a route or an address from it.

// NoRouterAdvertisement is the ICMPv6 body of that advertisement, with the
// source link-layer address option for mac (RFC 4861 4.2, 4.6.1).
func NoRouterAdvertisement(mac net.HardwareAddr) []byte {
	b := make([]byte, 12, 20)
	// cur hop limit 0 (unspecified), flags 0, router lifetime 0, reachable
	// time 0, retrans timer 0: all "no information".
	if len(mac) == 6 {
		b = append(b, 1, 1) // option: source link-layer address, 8 bytes
		b = append(b, mac...)
	}
	return b
}

// parseSolicitation checks an ICMPv6 message is a router solicitation.
func parseSolicitation(b []byte) error {
	m, err := icmp.ParseMessage(ipv6.ICMPTypeRouterSolicitation.Protocol(), b)
	if err != nil {
		return err
	}
	if m.Type != ipv6.ICMPTypeRouterSolicitation || m.Code != 0 {
		return fmt.Errorf("not a router solicitation: %v code %d", m.Type, m.Code)
	}
	if raw, ok := m.Body.(*icmp.RawBody); ok && len(raw.Data) < 4 {
		return errors.New("short router solicitation")
	}
	return nil
}

// ServeNoRouter answers router solicitations on iface until ctx ends.
func ServeNoRouter(ctx context.Context, iface string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "ipv6-ra", "iface", iface)
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return fmt.Errorf("ipv6 ra: %w", err)
	}
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return fmt.Errorf("ipv6 ra: listen: %w", err)
	}
	defer c.Close()
	p := c.IPv6PacketConn()
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	allRouters := &net.IPAddr{IP: net.ParseIP("ff02::2"), Zone: iface}
	allNodes := &net.IPAddr{IP: net.ParseIP("ff02::1"), Zone: iface}
	for _, err := range []error{
		p.SetICMPFilter(&f),
		p.JoinGroup(ifi, allRouters),
		p.SetMulticastInterface(ifi),
		// RFC 4861: neighbour discovery is sent, and accepted, with hop limit 255.
		p.SetMulticastHopLimit(255),
		p.SetHopLimit(255),
		p.SetControlMessage(ipv6.FlagInterface, true),
	} {
		if err != nil {
			return fmt.Errorf("ipv6 ra: %w", err)
		}
	}
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	body := NoRouterAdvertisement(ifi.HardwareAddr)
	msg, err := (&icmp.Message{Type: ipv6.ICMPTypeRouterAdvertisement, Body: &icmp.RawBody{Data: body}}).Marshal(nil)
	if err != nil {
		return err
	}
	log.Info("answering IPv6 router solicitations: no router here")
	buf := make([]byte, 1500)
	for {
		n, cm, src, err := p.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ipv6 ra: read: %w", err)
		}
		if cm != nil && cm.IfIndex != ifi.Index {
			continue
		}
		if err := parseSolicitation(buf[:n]); err != nil {
			log.Debug("ignored", "from", src.String(), "err", err)
			continue
		}
		// The kernel fills in the ICMPv6 checksum of a raw ICMPv6 socket.
		if _, err := p.WriteTo(msg, nil, allNodes); err != nil {
			log.Warn("router advertisement not sent", "err", err)
			continue
		}
		log.Debug("router advertisement sent", "to", allNodes.String(), "solicited_by", src.String())
	}
}

// routerLifetime reads an advertisement body's router lifetime (tests).
func routerLifetime(body []byte) uint16 { return binary.BigEndian.Uint16(body[2:4]) }
