package redfishtest

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
)

type fixedMeter struct{ w, j float64 }

func (m *fixedMeter) Watts() (float64, error)  { return m.w, nil }
func (m *fixedMeter) Joules() (float64, error) { return m.j, nil }

func do(t *testing.T, s *Server, method, path, body string, auth func(*http.Request)) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != nil {
		auth(r)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	var d map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &d)
	return w.Code, d
}

func basic(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }

func TestRequests(t *testing.T) {
	good := basic("admin", "pw")
	tests := []struct {
		name, method, path, body string
		auth                     func(*http.Request)
		want                     int
	}{
		{"service root is open", "GET", "/redfish/v1/", "", nil, 200},
		{"systems need auth", "GET", "/redfish/v1/Systems", "", nil, 401},
		{"wrong password", "GET", "/redfish/v1/Systems", "", basic("admin", "nope"), 401},
		{"wrong user", "GET", "/redfish/v1/Systems", "", basic("root", "pw"), 401},
		{"unknown token", "GET", "/redfish/v1/Systems", "", func(r *http.Request) { r.Header.Set("X-Auth-Token", "x") }, 401},
		{"systems", "GET", "/redfish/v1/Systems/", "", good, 200},
		{"no such system", "GET", "/redfish/v1/Systems/2", "", good, 404},
		{"reset on", "POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", `{"ResetType":"On"}`, good, 204},
		{"reset unknown", "POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", `{"ResetType":"Nmi"}`, good, 400},
		{"reset garbage", "POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", `{"ResetType":`, good, 400},
		{"boot pxe", "PATCH", "/redfish/v1/Systems/1", `{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}`, good, 204},
		{"boot unknown target", "PATCH", "/redfish/v1/Systems/1", `{"Boot":{"BootSourceOverrideTarget":"Floppy"}}`, good, 400},
		{"patch other", "PATCH", "/redfish/v1/Systems/1", `{"AssetTag":"x"}`, good, 400},
		{"power", "GET", "/redfish/v1/Chassis/1/Power", "", good, 200},
		{"environment", "GET", "/redfish/v1/Chassis/1/EnvironmentMetrics", "", good, 200},
		{"login wrong", "POST", "/redfish/v1/SessionService/Sessions", `{"UserName":"admin","Password":"x"}`, nil, 401},
		{"login", "POST", "/redfish/v1/SessionService/Sessions", `{"UserName":"admin","Password":"pw"}`, nil, 201},
		{"logout unknown", "DELETE", "/redfish/v1/SessionService/Sessions/99", "", good, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{Password: "pw", Meter: &fixedMeter{w: 96, j: 0}})
			if code, d := do(t, s, tt.method, tt.path, tt.body, tt.auth); code != tt.want {
				t.Errorf("%s %s = %d %v, want %d", tt.method, tt.path, code, d, tt.want)
			}
		})
	}
}

func TestPowerAndSession(t *testing.T) {
	s := New(Options{Password: "pw", Meter: &fixedMeter{w: 96}})
	good := basic("admin", "pw")
	state := func() any { _, d := do(t, s, "GET", "/redfish/v1/Systems/1", "", good); return d["PowerState"] }
	for _, step := range []struct{ reset, want string }{
		{"On", "On"}, {"ForceRestart", "On"}, {"GracefulShutdown", "Off"}, {"On", "On"}, {"PowerCycle", "On"}, {"ForceOff", "Off"},
	} {
		do(t, s, "POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", `{"ResetType":"`+step.reset+`"}`, good)
		if got := state(); got != step.want {
			t.Fatalf("after %s: PowerState %v, want %s", step.reset, got, step.want)
		}
	}
	r := httptest.NewRequest("POST", "/redfish/v1/SessionService/Sessions", strings.NewReader(`{"UserName":"admin","Password":"pw"}`))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	tok, loc := w.Header().Get("X-Auth-Token"), w.Header().Get("Location")
	byToken := func(r *http.Request) { r.Header.Set("X-Auth-Token", tok) }
	if code, _ := do(t, s, "GET", loc, "", byToken); code != 200 || s.Sessions() != 1 {
		t.Fatalf("session %s: %d, %d open", loc, code, s.Sessions())
	}
	if code, d := do(t, s, "GET", "/redfish/v1/Chassis/1/Power", "", byToken); code != 200 ||
		d["PowerControl"].([]any)[0].(map[string]any)["PowerConsumedWatts"] != 96.0 {
		t.Errorf("power by token: %d %v", code, d)
	}
	if code, _ := do(t, s, "DELETE", loc, "", byToken); code != 204 || s.Sessions() != 0 {
		t.Fatalf("logout: %d, %d open", code, s.Sessions())
	}
	if code, _ := do(t, s, "GET", "/redfish/v1/Systems", "", byToken); code != 401 {
		t.Errorf("a closed session still works: %d", code)
	}
}

// The counter moves only on its period, in steps of its resolution, from
// its lifetime value.
func TestCounter(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	clk := clock.NewFake(t0)
	m := &fixedMeter{}
	s := New(Options{Meter: m, Clock: clk, Counter: CounterConfig{StartKWh: 20_000, Period: time.Second, ResolutionKWh: 0.001}})
	steps := []struct {
		after  time.Duration
		joules float64
		want   float64
	}{
		{0, 0, 20_000},
		{500 * time.Millisecond, 7_200, 20_000},       // between updates: unchanged
		{500 * time.Millisecond, 7_200, 20_000.002},   // 7.2 kJ = 0.002 kWh
		{time.Second, 9_000, 20_000.002},              // 0.0025 kWh: floored to the step
		{1500 * time.Millisecond, 10_800, 20_000.003}, // late tick: still on the grid
		{500 * time.Millisecond, 14_400, 20_000.004},
	}
	for i, st := range steps {
		clk.Advance(st.after)
		m.j = st.joules
		s.Tick()
		if got := s.EnergyKWh(); math.Abs(got-st.want) > 1e-9 {
			t.Fatalf("step %d: counter %.6f kWh, want %.6f", i, got, st.want)
		}
	}
}
