package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
)

// TestMachineLeftOnIsSwitchedOff: a simulated machine found on with no job
// when bmcctld starts (switched on behind its back) is held, then switched
// off by the reconciler after the grace; bmcq node show has the event and
// /metrics counts the action.
func TestMachineLeftOnIsSwitchedOff(t *testing.T) {
	state := t.TempDir()
	nodes := fastSimNodes(t, t.TempDir(), 1)
	d := startDaemon(t, state, "--nodes", nodes)
	d.stop()
	// The simulated machine's persisted truth: switch it on.
	path := filepath.Join(state, "sim", "fast01.json")
	var m map[string]any
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["on"], m["on_at"] = true, time.Now().UTC().Format(time.RFC3339Nano)
	b, _ = json.Marshal(m)
	write(t, path, string(b))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metrics := ln.Addr().String()
	ln.Close()
	d = startDaemon(t, state, "--nodes", nodes, "--metrics-listen", metrics,
		"--reconcile-interval", "200ms", "--power-sync-interval", "1s", "--idle-off-grace", "2s")
	c := api.NewClient(d.sock)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var detail api.NodeDetail
	sawHeld := false
	for {
		if detail, err = c.Node(ctx, "fast01"); err != nil {
			t.Fatal(err)
		}
		sawHeld = sawHeld || strings.Contains(detail.Reason, "on with no job")
		if hasAction(detail, "idle_off") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("never switched off; node %+v\nlog:\n%s", detail, tail(d.log.String(), 30))
		case <-time.After(100 * time.Millisecond): // polling a separate process
		}
	}
	if !sawHeld {
		t.Errorf("bmcq nodes never said the machine was held on with no job")
	}
	if detail.Power != "off" || detail.State != "IDLE" {
		t.Errorf("after the reconciler: power %q, state %s", detail.Power, detail.State)
	}
	r := d.run(0, state, "bmcq", "node", "show", "fast01")
	if r.code != 0 || !strings.Contains(r.stdout, "idle_off") || !strings.Contains(r.stdout, "NodeName=fast01") {
		t.Errorf("bmcq node show: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`bmc_reconciler_actions_total{action="idle_off"} 1`, `bmc_reconciler_actions_total{action="agent_lost"} 0`} {
		if !regexp.MustCompile(regexp.QuoteMeta(want) + `\n`).Match(body) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func hasAction(d api.NodeDetail, action string) bool {
	for _, e := range d.Events {
		if e.Action == action {
			return true
		}
	}
	return false
}
