package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bmc-sched/bmc/agent/proto"
)

type recorded struct {
	method, path, auth, contentType string
	body                            map[string]any
}

func fakeController(t *testing.T, cfg string) (*httptest.Server, func() []recorded) {
	t.Helper()
	var mu sync.Mutex
	var reqs []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recorded{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type")}
		if r.Method == http.MethodPost {
			if err := json.NewDecoder(r.Body).Decode(&rec.body); err != nil {
				t.Errorf("%s: body is not JSON: %v", r.URL.Path, err)
			}
		}
		mu.Lock()
		reqs = append(reqs, rec)
		mu.Unlock()
		if rec.auth != "Bearer tok-1" {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case proto.PathConfig:
			io.WriteString(w, cfg)
		case "/rootfs/7.tar":
			io.WriteString(w, "tar bytes")
		case proto.PathProgress, proto.PathReady, proto.PathHeartbeat:
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []recorded {
		mu.Lock()
		defer mu.Unlock()
		return append([]recorded(nil), reqs...)
	}
}

func TestAPICallbacks(t *testing.T) {
	srv, log := fakeController(t, `{"job_id":7,"node":"n1","hostname":"n1","authorized_key":"ssh-ed25519 AAAA","rootfs_url":"/rootfs/7.tar","rootfs_size":9,"rootfs_digest":"sha256:00"}`)
	api := &API{BaseURL: srv.URL, Token: "tok-1", HTTP: srv.Client()}
	ctx := context.Background()

	cfg, err := api.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.JobID != 7 || cfg.SSHPort != 22 || cfg.HeartbeatSeconds != 10 || cfg.RootfsURL != "/rootfs/7.tar" {
		t.Errorf("config = %+v (want defaults ssh_port 22, heartbeat 10)", cfg)
	}
	rc, err := api.Rootfs(ctx, cfg.RootfsURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "tar bytes" {
		t.Errorf("rootfs = %q", b)
	}
	if err := api.Progress(ctx, proto.Progress{Phase: "rootfs", Detail: "9 bytes", Uptime: 12.5}); err != nil {
		t.Fatal(err)
	}
	if err := api.Ready(ctx, proto.Ready{HostKey: "ssh-ed25519 BBBB", Addresses: []string{"10.0.2.15"}, SSHPort: 22, Uptime: 13}); err != nil {
		t.Fatal(err)
	}
	code, energy := 3, uint64(123456)
	if err := api.Heartbeat(ctx, proto.Heartbeat{Uptime: 20, ExitCode: &code, EnergyUJ: &energy}); err != nil {
		t.Fatal(err)
	}
	if err := api.Heartbeat(ctx, proto.Heartbeat{Uptime: 21, Running: true}); err != nil {
		t.Fatal(err)
	}

	got := log()
	want := []struct {
		method, path string
		body         string
	}{
		{"GET", proto.PathConfig, ""},
		{"GET", "/rootfs/7.tar", ""},
		{"POST", proto.PathProgress, `{"detail":"9 bytes","phase":"rootfs","uptime":12.5}`},
		{"POST", proto.PathReady, `{"addresses":["10.0.2.15"],"host_key":"ssh-ed25519 BBBB","ssh_port":22,"uptime":13}`},
		{"POST", proto.PathHeartbeat, `{"energy_uj":123456,"exit_code":3,"running":false,"uptime":20}`},
		{"POST", proto.PathHeartbeat, `{"running":true,"uptime":21}`},
	}
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.method != w.method || g.path != w.path || g.auth != "Bearer tok-1" {
			t.Errorf("request %d = %s %s auth %q", i, g.method, g.path, g.auth)
		}
		if w.body == "" {
			continue
		}
		if g.contentType != "application/json" {
			t.Errorf("request %d content type %q", i, g.contentType)
		}
		// map keys marshal sorted: compare canonical JSON.
		gb, _ := json.Marshal(g.body)
		if string(gb) != w.body {
			t.Errorf("request %d body = %s, want %s", i, gb, w.body)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	srv, _ := fakeController(t, `{"job_id":1}`)
	ctx := context.Background()
	bad := &API{BaseURL: srv.URL, Token: "wrong", HTTP: srv.Client()}
	_, err := bad.Config(ctx)
	var he *HTTPError
	if !errors.Is(err, ErrHTTP) || !errors.As(err, &he) || he.StatusCode != 401 || !he.Permanent() || !strings.Contains(he.Body, "bad token") {
		t.Errorf("wrong token: %v, want a permanent HTTPError 401", err)
	}
	good := &API{BaseURL: srv.URL, Token: "tok-1", HTTP: srv.Client()}
	if _, err := good.Config(ctx); !errors.Is(err, ErrBadRequest) {
		t.Errorf("config without key: %v, want ErrBadRequest", err)
	}
	if _, err := good.Rootfs(ctx, "/nope"); !errors.Is(err, ErrHTTP) {
		t.Errorf("missing rootfs: %v", err)
	}
}
