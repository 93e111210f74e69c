package boot

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// conns is the node listener's open connections by the node's address.
//
// Firmware HTTP stacks (GRUB's above all) restart their source ports from
// the same number on every boot. A keep-alive connection left from the
// node's last boot — the machine was switched off, so it never sent a FIN —
// holds the same four-tuple as the new boot's first fetch: the new SYN
// meets an established socket, gets a challenge ACK that GRUB does not
// handle, and the fetch stalls until GRUB gives up and asks for its script
// again, which is then refused as a second fetch. So before a node is
// powered on, its idle connections are reset (SO_LINGER 0) and the kernel
// forgets them at once.
type conns struct {
	mu     sync.Mutex
	byAddr map[netip.Addr]map[net.Conn]http.ConnState
}

// ConnState is the node listener's http.Server.ConnState: it keeps the
// table current. Install it on the server that serves s.
func (s *Server) ConnState(c net.Conn, st http.ConnState) {
	a, ok := connAddr(c)
	if !ok {
		return
	}
	s.conns.mu.Lock()
	defer s.conns.mu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		if m := s.conns.byAddr[a]; m != nil {
			delete(m, c)
			if len(m) == 0 {
				delete(s.conns.byAddr, a)
			}
		}
	default:
		if s.conns.byAddr == nil {
			s.conns.byAddr = map[netip.Addr]map[net.Conn]http.ConnState{}
		}
		m := s.conns.byAddr[a]
		if m == nil {
			m = map[net.Conn]http.ConnState{}
			s.conns.byAddr[a] = m
		}
		m[c] = st
	}
}

// ResetIdleConns resets the connections from addr that carry no request: the
// ones a switched-off machine left behind. A request in flight is left to
// finish or fail on its own. It returns how many it reset.
func (s *Server) ResetIdleConns(addr netip.Addr) int {
	if !addr.IsValid() {
		return 0
	}
	s.conns.mu.Lock()
	var idle []net.Conn
	for c, st := range s.conns.byAddr[addr.Unmap()] {
		if st == http.StateIdle || st == http.StateNew {
			idle = append(idle, c)
		}
	}
	s.conns.mu.Unlock()
	for _, c := range idle {
		// An interface, not *net.TCPConn: the listener's connection cap
		// (internal/connlimit) wraps the connection and passes it on.
		if tc, ok := c.(interface{ SetLinger(int) error }); ok {
			// An abortive close: an RST now, no FIN_WAIT or TIME_WAIT
			// left holding the four-tuple.
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
	return len(idle)
}

func connAddr(c net.Conn) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}
