package boot

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/bmc-sched/bmc/agent"
	"github.com/bmc-sched/bmc/agent/proto"
)

// TestKexecRequestServesTheNextBoot: what the agent would fetch and boot
// from a KexecRequest is the prepared boot's kernel and initrd (checked by
// the agent's own verifier), and its command line is a network boot's.
func TestKexecRequestServesTheNextBoot(t *testing.T) {
	e := newEnv(t)
	e.prepare(e.req(42, 1, "node1", "52:54:00:12:34:56"))
	next := e.prepare(e.req(43, 1, "node1", "52:54:00:12:34:56"))
	req := e.srv.KexecRequest(next)
	if err := agent.CheckKexec(req); err != nil {
		t.Fatalf("the agent would refuse it: %v", err)
	}
	var got [2][]byte
	for i, f := range []struct {
		url, digest string
		size        int64
	}{{req.KernelURL, req.KernelDigest, req.KernelSize}, {req.InitrdURL, req.InitrdDigest, req.InitrdSize}} {
		code, body := e.get(f.url)
		if code != 200 {
			t.Fatalf("%s: %d", f.url, code)
		}
		if err := agent.CopyVerified(&bytes.Buffer{}, bytes.NewReader(body), f.size, f.digest); err != nil {
			t.Fatalf("%s: %v", f.url, err)
		}
		got[i] = body
		// Single use, as for a network boot.
		if code, _ := e.get(f.url); code != 403 {
			t.Fatalf("%s a second time: %d", f.url, code)
		}
	}
	if !bytes.Equal(got[0], e.kernel) {
		t.Fatal("kexec kernel is not the boot's kernel")
	}
	checkInitrd(t, got[1], e.initrd, e.agent)
	p := agent.SplitCmdline(agent.KexecCmdline(req))
	if p["rdinit"] != "/bmcinit" || p[proto.ParamURL] != nodeURL || p[proto.ParamToken] != next.AgentToken || p["console"] != "ttyS0,115200" {
		t.Fatalf("next kernel's command line: %q", agent.KexecCmdline(req))
	}
}

func TestResetRequestOpensTheNextJobsConfig(t *testing.T) {
	e := newEnv(t)
	e.prepare(e.req(42, 1, "node1", "52:54:00:12:34:56"))
	next := e.prepare(e.req(43, 1, "node1", "52:54:00:12:34:56"))
	req := e.srv.ResetRequest(next)
	if err := agent.CheckReset(req); err != nil {
		t.Fatalf("the agent would refuse it: %v", err)
	}
	code, body := e.do("GET", proto.PathConfig, req.Token, nil)
	var cfg proto.Config
	if code != 200 || json.Unmarshal(body, &cfg) != nil || cfg.JobID != 43 || cfg.AuthorizedKey == "" {
		t.Fatalf("config with the reset token: %d %s", code, body)
	}
}
