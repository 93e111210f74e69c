package boot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
)

// A boot's tokens live in this process only (token.go). The agent token of
// a job that is still running when the controller restarts is the one
// exception: the restarted controller recovers the job (it reconnects over
// SSH with the pinned host key), and takes the agent's calls again with
// Adopt, from the token's hash kept on disk, never the token itself.
// Without it the agent's heartbeats, and the in-band energy readings they
// carry, would be refused as revoked until the job ended.

// AgentKey is the hash of b's agent token (hex), what Adopt takes: it
// names the token without being it, so it may be written to disk.
func AgentKey(b *Boot) string {
	k := keyOf(b.AgentToken)
	return hex.EncodeToString(k[:])
}

// Adoption is a running boot a previous controller process prepared.
type Adoption struct {
	JobID, Boot uint64
	Node, MAC   string
	// Address binds the agent's calls to the node's address, as Prepare's
	// Request.Address does (the zero value accepts any source).
	Address netip.Addr
	// AgentKey is AgentKey of the boot, as the previous process minted it.
	AgentKey string
}

// Adopt makes the agent token of a boot a previous controller process
// prepared live again, for its agent's calls only: the boot's agent is
// taken as pinned, so a Ready is a conflict, and the token is bound to the
// node as before. Finish of the job revokes it. Adopting a token that is
// live already changes nothing.
func (s *Server) Adopt(a Adoption) error {
	raw, err := hex.DecodeString(a.AgentKey)
	if err != nil || len(raw) != sha256.Size {
		return fmt.Errorf("%w: job %d: agent key is not a SHA-256 in hex", ErrBadRequest, a.JobID)
	}
	if !nodeName.MatchString(a.Node) {
		return fmt.Errorf("%w: node name %q", ErrBadRequest, a.Node)
	}
	mac := ""
	if a.MAC != "" {
		hw, err := net.ParseMAC(a.MAC)
		if err != nil || len(hw) != 6 {
			return fmt.Errorf("%w: node %s: MAC %q is not an Ethernet address", ErrBadRequest, a.Node, a.MAC)
		}
		mac = hw.String()
	}
	var k tokenKey
	copy(k[:], raw)
	now := s.clk.Now()
	st := &bootState{
		b:       &Boot{JobID: a.JobID, Boot: a.Boot, Node: a.Node, MAC: mac, Address: a.Address, Prepared: now, Expires: now},
		tokens:  []tokenKey{k},
		binding: binding{readySeen: true},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tokens[k]; ok {
		return nil
	}
	s.tokens[k] = &token{key: k, kind: kindAgent, boot: st, expires: now.Add(s.ttl)}
	s.byJob[a.JobID] = append(s.byJob[a.JobID], st)
	s.log.Info("agent token adopted from the previous process", "job", a.JobID, "boot", a.Boot, "node", a.Node, "token", a.AgentKey[:6])
	return nil
}
