package boot

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"

	"github.com/bmc-sched/bmc/agent/proto"
)

// A boot is bound to its node's address: the script, the artifacts and the
// agent calls of node N are served only to N's address, the script once,
// and the first Ready pins the agent. Anything else is a Conflict: the boot
// is aborted at once (every token revoked) and the controller is told, so
// the job's command, environment, image and output are never handed to a
// neighbour that raced the node or stole a token.

// ConflictKind names a conflict; the values are metric labels.
type ConflictKind string

const (
	// ConflictScriptForeign: the boot script was asked for from another address.
	ConflictScriptForeign ConflictKind = "script_foreign"
	// ConflictScriptAgain: the one-time boot script was asked for a second time.
	ConflictScriptAgain ConflictKind = "script_again"
	// ConflictTokenForeign: a live token came from another address.
	ConflictTokenForeign ConflictKind = "token_foreign"
	// ConflictReadyAgain: a second Ready for a boot whose agent is pinned.
	ConflictReadyAgain ConflictKind = "ready_again"
)

// ConflictKinds lists every kind (metrics create their labels up front).
var ConflictKinds = []ConflictKind{ConflictScriptForeign, ConflictScriptAgain, ConflictTokenForeign, ConflictReadyAgain}

// Conflict is a security event on one boot.
type Conflict struct {
	Kind ConflictKind
	// Remote is the address the offending request came from.
	Remote netip.Addr
	// Route is the request's pattern, never its path (which may hold a token).
	Route string
}

// ConflictHandler is told of every conflict, after the boot was aborted.
// Callbacks may implement it.
type ConflictHandler interface {
	Conflict(b *Boot, c Conflict)
}

// binding is the part of a boot's state that enforces the rules above.
type binding struct {
	readySeen bool
	aborted   bool
}

// remoteAddr is the request's source address (zero if unreadable).
func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// NeighbourFunc tells the link-layer address the controller's kernel last
// saw for an on-link IP address (its ARP table); ok is false when it has none.
type NeighbourFunc func(netip.Addr) (mac net.HardwareAddr, ok bool)

// source is what the boot's binding says of a request's origin.
type source int

const (
	fromTheNode source = iota
	fromElsewhere
	// fromUnresolved: the request came from the node's address, but the
	// controller's kernel has no resolved link-layer address for it (no
	// ARP entry, or one incomplete or failed: a booting node's NIC misses
	// ARP probes while its driver comes up). Not a conflict, not served:
	// answering it makes the kernel resolve the address, and a retry
	// is checked against the MAC it finds.
	fromUnresolved
)

// fromNode tells whether r comes from the boot's node: from its address
// and, when the server knows the neighbours (Config.Neighbour), from its MAC
// too, so a neighbour that only took the node's IP address is told apart.
// An unbound boot (no address) accepts every source.
func (s *Server) fromNode(st *bootState, r *http.Request) source {
	if !st.b.Address.IsValid() {
		return fromTheNode
	}
	if remoteAddr(r) != st.b.Address {
		return fromElsewhere
	}
	if s.cfg.Neighbour == nil || st.b.MAC == "" {
		return fromTheNode
	}
	switch mac, ok := s.cfg.Neighbour(st.b.Address); {
	case !ok:
		return fromUnresolved
	case mac.String() != st.b.MAC:
		return fromElsewhere
	}
	return fromTheNode
}

// unresolvedReason answers a request the binding could not yet check.
const unresolvedReason = "the node's link-layer address is not resolved yet; retry"

// abortLocked revokes every token of the boot and marks it aborted; it
// reports false when it already was, so one boot raises one abort.
func (s *Server) abortLocked(st *bootState) bool {
	if st.aborted {
		return false
	}
	st.aborted = true
	for _, k := range st.tokens {
		delete(s.tokens, k)
	}
	return true
}

// conflict is called without s.mu, after abortLocked returned true.
func (s *Server) conflict(st *bootState, r *http.Request, kind ConflictKind, route string) {
	c := Conflict{Kind: kind, Remote: remoteAddr(r), Route: route}
	b := st.b
	s.log.Warn("security event: boot aborted", "kind", string(kind), "job", b.JobID, "boot", b.Boot, "node", b.Node,
		"node_address", b.Address, "remote", c.Remote, "route", route)
	if h, ok := s.cfg.Callbacks.(ConflictHandler); ok {
		h.Conflict(b, c)
	}
}

// Abort ends a boot the controller gave up on for a reason of its own
// (a conflict it saw): every token of it stops working at once.
func (s *Server) Abort(jobID, boot uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.byJob[jobID] {
		if st.b.Boot == boot {
			s.abortLocked(st)
		}
	}
}

// SSHPort is the port the agents are told to run their SSH server on.
func (s *Server) SSHPort() int { return s.cfg.SSHPort }

// serveReady passes on the boot's first Ready, which pins the agent's host
// key; any later one is a conflict.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request, st *bootState) {
	var v proto.Ready
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCallbackBody)).Decode(&v); err != nil {
		s.refuse(w, r, http.StatusBadRequest, r.Pattern, "bad JSON body", "job", st.b.JobID)
		return
	}
	s.mu.Lock()
	again := st.readySeen
	st.readySeen = true
	aborted := again && s.abortLocked(st)
	s.mu.Unlock()
	if again {
		if aborted {
			s.conflict(st, r, ConflictReadyAgain, r.Pattern)
		}
		s.refuse(w, r, http.StatusConflict, r.Pattern, "the boot's agent is already pinned", "job", st.b.JobID)
		return
	}
	if s.cfg.Callbacks != nil {
		s.cfg.Callbacks.Ready(st.b, v)
	}
	w.WriteHeader(http.StatusNoContent)
}
