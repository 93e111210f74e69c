package boot

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bmc-sched/bmc/agent/proto"
)

// A restarted controller adopts the agent token of a job it recovered:
// the agent's heartbeats are taken again, from the node only; a Ready is
// a conflict (the agent was pinned before); Finish revokes the token.
func TestAdoptAfterRestart(t *testing.T) {
	before := newEnv(t)
	req := before.req(7, 2, "node2", "52:54:00:00:00:02")
	req.Address = netip.MustParseAddr(victimIP)
	b := before.prepare(req)
	if got := before.boot(victimIP, b); !equalInts(got, []int{200, 200, 200, 204}) {
		t.Fatalf("boot: %v", got)
	}
	beat := func(e *env, from string) int {
		c, _ := e.call(from, "POST", proto.PathHeartbeat, b.AgentToken, proto.Heartbeat{Running: true})
		return c
	}
	e := newEnv(t) // the restarted controller's server
	if c := beat(e, victimIP); c != 403 {
		t.Fatalf("heartbeat before Adopt: %d, want 403", c)
	}
	a := Adoption{JobID: 7, Boot: 2, Node: "node2", MAC: "52:54:00:00:00:02", Address: req.Address, AgentKey: AgentKey(b)}
	for range 2 { // idempotent
		if err := e.srv.Adopt(a); err != nil {
			t.Fatal(err)
		}
	}
	if c := beat(e, victimIP); c != 204 {
		t.Fatalf("heartbeat after Adopt: %d, want 204", c)
	}
	if got := e.rec.list(); len(got) != 1 || !strings.Contains(got[0], "job 7 boot 2") || !strings.HasSuffix(got[0], "heartbeat true") {
		t.Errorf("callbacks %q: want one heartbeat of job 7 boot 2", got)
	}
	if c, _ := e.call(victimIP, "POST", proto.PathReady, b.AgentToken, proto.Ready{HostKey: "ssh-ed25519 OTHER"}); c != 409 {
		t.Errorf("Ready on an adopted boot: %d, want 409", c)
	}
	if c := beat(e, victimIP); c != 403 {
		t.Errorf("heartbeat after the conflict: %d, want 403 (the boot is aborted)", c)
	}

	// Bound to the node's address as before; Finish revokes it.
	e = newEnv(t)
	if err := e.srv.Adopt(a); err != nil {
		t.Fatal(err)
	}
	e.srv.Finish(7)
	if c := beat(e, victimIP); c != 403 {
		t.Errorf("heartbeat after Finish: %d, want 403", c)
	}
	e = newEnv(t)
	if err := e.srv.Adopt(a); err != nil {
		t.Fatal(err)
	}
	if c := beat(e, attackerIP); c != 403 {
		t.Errorf("heartbeat from a neighbour: %d, want 403", c)
	}
	if c := beat(e, victimIP); c != 403 {
		t.Errorf("heartbeat after a neighbour used the token: %d, want 403 (aborted)", c)
	}
	for _, tok := range []string{b.AgentToken} {
		if strings.Contains(e.logs.String(), tok) {
			t.Fatal("the token reached the log")
		}
	}
}

func TestAdoptRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	for _, a := range []Adoption{
		{JobID: 1, Node: "node2", AgentKey: "zz"},
		{JobID: 1, Node: "node2", AgentKey: strings.Repeat("ab", 31)},
		{JobID: 1, Node: "bad name", AgentKey: strings.Repeat("ab", 32)},
		{JobID: 1, Node: "node2", MAC: "nope", AgentKey: strings.Repeat("ab", 32)},
	} {
		if err := e.srv.Adopt(a); err == nil {
			t.Errorf("Adopt(%+v) = nil, want an error", a)
		}
	}
}
