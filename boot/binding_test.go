package boot

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bmc-sched/bmc/agent/proto"
)

// call serves one request from the source address from, as a node on the
// provisioning network would send it.
func (e *env) call(from, method, target, bearer string, body any) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	r := httptest.NewRequest(method, strings.Replace(target, nodeURL, "", 1), rd)
	r.RemoteAddr = from + ":40000"
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

const (
	victimIP   = "10.77.0.12"
	attackerIP = "10.77.0.11"
)

// Every way a neighbour can touch a bound boot aborts it: all its tokens
// stop working, the controller hears of it once, and the node itself then
// gets nothing either.
func TestBindingConflicts(t *testing.T) {
	tests := []struct {
		name string
		// steps run in order against a fresh boot of node2 (victimIP); each
		// returns the HTTP code it got.
		steps    func(e *env, b *Boot) []int
		codes    []int
		conflict string // "" = none
	}{
		{
			name:  "node fetches its own script, kernel, config, ready",
			steps: func(e *env, b *Boot) []int { return e.boot(victimIP, b) },
			codes: []int{200, 200, 200, 204},
		},
		{
			name: "a neighbour asks for the script first",
			steps: func(e *env, b *Boot) []int {
				c1, s1 := e.call(attackerIP, "GET", "/ipxe/52-54-00-00-00-02", "", nil)
				if strings.Contains(s1, b.AgentToken) {
					e.t.Fatal("the neighbour got the agent token")
				}
				return append([]int{c1}, e.boot(victimIP, b)...)
			},
			// The neighbour and then the node get the no-job script; the
			// tokens it would have named are dead.
			codes:    []int{200, 200, 403, 403, 403},
			conflict: "conflict script_foreign from 10.77.0.11 on /ipxe/{mac}",
		},
		{
			name: "the script is asked for twice",
			steps: func(e *env, b *Boot) []int {
				c, _ := e.call(victimIP, "GET", "/ipxe/52-54-00-00-00-02", "", nil)
				return append([]int{c}, e.boot(victimIP, b)...)
			},
			codes:    []int{200, 200, 403, 403, 403},
			conflict: "conflict script_again from 10.77.0.12 on /ipxe/{mac}",
		},
		{
			name: "a stolen kernel token",
			steps: func(e *env, b *Boot) []int {
				c, _ := e.call(attackerIP, "GET", "/a/"+b.KernelToken+"/vmlinuz", "", nil)
				return append([]int{c}, e.boot(victimIP, b)...)
			},
			codes:    []int{403, 200, 403, 403, 403},
			conflict: "conflict token_foreign from 10.77.0.11 on /a/{token}/{file}",
		},
		{
			name: "a stolen agent token",
			steps: func(e *env, b *Boot) []int {
				c, _ := e.call(attackerIP, "GET", proto.PathConfig, b.AgentToken, nil)
				return append([]int{c}, e.boot(victimIP, b)...)
			},
			codes:    []int{403, 200, 403, 403, 403},
			conflict: "conflict token_foreign from 10.77.0.11 on GET /agent/config",
		},
		{
			name: "a forged Ready from a neighbour",
			steps: func(e *env, b *Boot) []int {
				c, _ := e.call(attackerIP, "POST", proto.PathReady, b.AgentToken, proto.Ready{HostKey: "ssh-ed25519 EVIL"})
				return append([]int{c}, e.boot(victimIP, b)...)
			},
			codes:    []int{403, 200, 403, 403, 403},
			conflict: "conflict token_foreign from 10.77.0.11 on POST /agent/ready",
		},
		{
			name: "a second Ready",
			steps: func(e *env, b *Boot) []int {
				codes := e.boot(victimIP, b)
				c, _ := e.call(victimIP, "POST", proto.PathReady, b.AgentToken, proto.Ready{HostKey: "ssh-ed25519 OTHER"})
				h, _ := e.call(victimIP, "POST", proto.PathHeartbeat, b.AgentToken, proto.Heartbeat{Running: true})
				return append(codes, c, h)
			},
			codes:    []int{200, 200, 200, 204, 409, 403},
			conflict: "conflict ready_again from 10.77.0.12 on POST /agent/ready",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			req := e.req(7, 1, "node2", "52:54:00:00:00:02")
			req.Address = netip.MustParseAddr(victimIP)
			b := e.prepare(req)
			got := tt.steps(e, b)
			if !equalInts(got, tt.codes) {
				t.Errorf("codes = %v, want %v", got, tt.codes)
			}
			var conflicts []string
			readies := 0
			for _, c := range e.rec.list() {
				if i := strings.Index(c, "conflict "); i >= 0 {
					conflicts = append(conflicts, c[i:])
				}
				if strings.Contains(c, ": ready ") {
					readies++
				}
			}
			want := []string{}
			if tt.conflict != "" {
				want = []string{tt.conflict}
			}
			if strings.Join(conflicts, "\n") != strings.Join(want, "\n") {
				t.Errorf("conflicts = %q, want %q", conflicts, want)
			}
			if tt.conflict != "" && strings.Contains(tt.conflict, "ready_again") != (readies == 1) {
				t.Errorf("%d Ready callbacks passed on", readies)
			}
			if tt.conflict != "" && !strings.Contains(e.logs.String(), "security event: boot aborted") {
				t.Errorf("no security event logged:\n%s", e.logs)
			}
			for _, tok := range []string{b.KernelToken, b.InitrdToken, b.AgentToken} {
				if strings.Contains(e.logs.String(), tok) {
					t.Fatal("a token reached the log")
				}
			}
		})
	}
}

// boot is the node's own sequence: script, kernel, agent config, Ready.
func (e *env) boot(from string, b *Boot) []int {
	c1, _ := e.call(from, "GET", "/ipxe/52-54-00-00-00-02", "", nil)
	c2, _ := e.call(from, "GET", "/a/"+b.KernelToken+"/vmlinuz", "", nil)
	c3, _ := e.call(from, "GET", proto.PathConfig, b.AgentToken, nil)
	c4, _ := e.call(from, "POST", proto.PathReady, b.AgentToken, proto.Ready{HostKey: "ssh-ed25519 HOST"})
	return []int{c1, c2, c3, c4}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// An unbound boot (no address: the user-mode lab) serves any source, but
// still only once.
func TestUnboundBootServesAnySource(t *testing.T) {
	e := newEnv(t)
	b := e.prepare(e.req(8, 1, "node2", "52:54:00:00:00:02"))
	if got := e.boot("127.0.0.1", b); !equalInts(got, []int{200, 200, 200, 204}) {
		t.Fatalf("codes = %v", got)
	}
	if c, body := e.call("127.0.0.1", "GET", "/ipxe/52-54-00-00-00-02", "", nil); c != http.StatusOK || strings.Contains(body, b.AgentToken) {
		t.Fatalf("second fetch: %d", c)
	}
	if c, _ := e.call("127.0.0.1", "GET", proto.PathConfig, b.AgentToken, nil); c != http.StatusForbidden {
		t.Fatalf("agent token after a second script fetch: %d, want 403", c)
	}
}

// A neighbour that took the node's IP address but not its MAC is told
// apart by the controller's ARP table, and aborts the boot like any other
// foreign request.
func TestBindingChecksTheNeighboursMAC(t *testing.T) {
	for _, tt := range []struct {
		name  string
		mac   string // what the ARP table says for victimIP
		codes []int
	}{
		{"the node's own MAC", "52:54:00:00:00:02", []int{200, 200, 200, 204}},
		{"a spoofer's MAC", "52:54:00:00:00:01", []int{200, 403, 403, 403}},
		// Unresolved: nothing is served (the script is the no-job one,
		// the rest 503), nothing is aborted; see TestBindingWaitsForARP.
		{"no ARP entry", "", []int{200, 503, 503, 503}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.srv.cfg.Neighbour = func(a netip.Addr) (net.HardwareAddr, bool) {
				if a != netip.MustParseAddr(victimIP) || tt.mac == "" {
					return nil, false
				}
				m, _ := net.ParseMAC(tt.mac)
				return m, true
			}
			req := e.req(9, 1, "node2", "52:54:00:00:00:02")
			req.Address = netip.MustParseAddr(victimIP)
			b := e.prepare(req)
			if got := e.boot(victimIP, b); !equalInts(got, tt.codes) {
				t.Errorf("codes = %v, want %v", got, tt.codes)
			}
		})
	}
}

// A request from the node's address while the controller's ARP table has
// no resolved entry for it (the NIC missed probes while its driver came up)
// is neither served nor a conflict: once the entry resolves to the node's
// MAC the same boot goes on, every token intact.
func TestBindingWaitsForARP(t *testing.T) {
	e := newEnv(t)
	var resolved atomic.Bool
	e.srv.cfg.Neighbour = func(a netip.Addr) (net.HardwareAddr, bool) {
		if a != netip.MustParseAddr(victimIP) || !resolved.Load() {
			return nil, false
		}
		m, _ := net.ParseMAC("52:54:00:00:00:02")
		return m, true
	}
	req := e.req(9, 1, "node2", "52:54:00:00:00:02")
	req.Address = netip.MustParseAddr(victimIP)
	b := e.prepare(req)
	if got := e.boot(victimIP, b); !equalInts(got, []int{200, 503, 503, 503}) {
		t.Errorf("unresolved: codes = %v, want [200 503 503 503]", got)
	}
	resolved.Store(true)
	if got := e.boot(victimIP, b); !equalInts(got, []int{200, 200, 200, 204}) {
		t.Errorf("resolved: codes = %v, want [200 200 200 204]: the boot was spent or aborted", got)
	}
}
