package dhcpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"golang.org/x/sync/errgroup"
)

// Serve answers requests on iface until ctx ends: port 67, and 4011 in
// proxy mode. observe, if not nil, sees every decision (metrics).
func (r *Responder) Serve(ctx context.Context, iface string, log *slog.Logger, observe func(Decision)) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "dhcp", "iface", iface, "mode", r.cfg.Mode.String())
	ports := []Port{PortDHCP}
	if r.cfg.Mode == Proxy {
		ports = append(ports, PortProxy)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range ports {
		conn, err := server4.NewIPv4UDPConn(iface, &net.UDPAddr{Port: int(p)})
		if err != nil {
			return fmt.Errorf("dhcp: listen on %s port %d: %w", iface, p, err)
		}
		g.Go(func() error {
			<-gctx.Done()
			return conn.Close()
		})
		g.Go(func() error { return r.loop(gctx, conn, p, log, observe) })
	}
	log.Info("dhcp serving", "server", r.cfg.ServerIP, "hosts", len(r.byMAC))
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (r *Responder) loop(ctx context.Context, conn *net.UDPConn, port Port, log *slog.Logger, observe func(Decision)) error {
	buf := make([]byte, 1500)
	for {
		n, peer, err := conn.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("dhcp: read: %w", err)
		}
		req, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			log.Debug("not a DHCP packet", "from", peer.String(), "err", err)
			continue
		}
		d := r.Reply(req, port)
		if observe != nil {
			observe(d)
		}
		attrs := []any{"mac", req.ClientHWAddr.String(), "type", req.MessageType().String(), "client", string(d.Client), "port", int(port)}
		if d.Host.Name != "" {
			attrs = append(attrs, "node", d.Host.Name)
		}
		if d.Reply == nil {
			// Unknown MACs are other machines' business: say so quietly.
			lvl := slog.LevelInfo
			if d.Reason == IgnoreUnknownMAC || d.Reason == IgnoreOtherServer {
				lvl = slog.LevelDebug
			}
			log.Log(ctx, lvl, "dhcp request not answered", append(attrs, "reason", d.Reason)...)
			continue
		}
		dst := destination(req, d.Reply, peer, port)
		if _, err := conn.WriteToUDP(d.Reply.ToBytes(), dst); err != nil {
			// The client retries its request; a lost reply costs seconds.
			log.Warn("dhcp reply not sent", append(attrs, "to", dst.String(), "err", err)...)
			continue
		}
		log.Info("dhcp reply", append(attrs, "reply", d.Reply.MessageType().String(), "addr", d.Reply.YourIPAddr.String(), "boot", d.Boot, "reason", d.Reason, "to", dst.String())...)
	}
}

// destination follows RFC 2131 4.1: to the relay, to the client's address
// when it has one, else broadcast (no raw socket to unicast before ARP).
func destination(req, reply *dhcpv4.DHCPv4, peer *net.UDPAddr, port Port) *net.UDPAddr {
	switch {
	case port == PortProxy && peer != nil && !peer.IP.IsUnspecified():
		return peer
	case req.GatewayIPAddr != nil && !req.GatewayIPAddr.IsUnspecified():
		return &net.UDPAddr{IP: req.GatewayIPAddr, Port: dhcpv4.ServerPort}
	case reply.MessageType() != dhcpv4.MessageTypeNak && req.ClientIPAddr != nil && !req.ClientIPAddr.IsUnspecified():
		return &net.UDPAddr{IP: req.ClientIPAddr, Port: dhcpv4.ClientPort}
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
}
