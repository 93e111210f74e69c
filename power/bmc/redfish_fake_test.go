package bmc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeRedfish is a small Redfish service on 127.0.0.1: a service root,
// sessions (token auth) and basic auth, one system with a reset action, and
// one chassis with Power and, optionally, EnvironmentMetrics.
type fakeRedfish struct {
	user, pass string
	withEnergy bool

	mu     sync.Mutex
	on     bool
	tokens map[string]bool
	resets []string
}

func newFakeRedfish(t *testing.T, user, pass string, withEnergy bool) (*fakeRedfish, *httptest.Server) {
	t.Helper()
	f := &fakeRedfish{user: user, pass: pass, withEnergy: withEnergy, tokens: map[string]bool{}}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeRedfish) authorized(r *http.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, p, ok := r.BasicAuth(); ok {
		return u == f.user && p == f.pass
	}
	return f.tokens[r.Header.Get("X-Auth-Token")]
}

func (f *fakeRedfish) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	reply := func(doc any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(doc)
	}
	link := func(p string) map[string]any { return map[string]any{"@odata.id": p} }
	switch {
	case path == "/redfish/v1": // open to all, as the spec says
		reply(map[string]any{
			"@odata.id": "/redfish/v1/", "RedfishVersion": "1.15.0",
			"Systems": link("/redfish/v1/Systems"), "Chassis": link("/redfish/v1/Chassis"),
			"SessionService": link("/redfish/v1/SessionService"),
			"Links":          map[string]any{"Sessions": link("/redfish/v1/SessionService/Sessions")},
		})
		return
	case path == "/redfish/v1/SessionService/Sessions" && r.Method == http.MethodPost:
		var body struct{ UserName, Password string }
		json.NewDecoder(r.Body).Decode(&body)
		if body.UserName != f.user || body.Password != f.pass {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"code":"Base.1.0.GeneralError","message":"Invalid username or password"}}`)
			return
		}
		f.mu.Lock()
		tok := fmt.Sprintf("tok-%d", len(f.tokens)+1)
		f.tokens[tok] = true
		f.mu.Unlock()
		w.Header().Set("X-Auth-Token", tok)
		w.Header().Set("Location", "/redfish/v1/SessionService/Sessions/"+tok)
		w.WriteHeader(http.StatusCreated)
		reply(map[string]any{"@odata.id": "/redfish/v1/SessionService/Sessions/" + tok, "Id": tok})
		return
	}
	if !f.authorized(r) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"code":"Base.1.0.NoValidSession","message":"unauthorized"}}`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case strings.HasPrefix(path, "/redfish/v1/SessionService/Sessions/") && r.Method == http.MethodDelete:
		delete(f.tokens, strings.TrimPrefix(path, "/redfish/v1/SessionService/Sessions/"))
		w.WriteHeader(http.StatusNoContent)
	case path == "/redfish/v1/Systems":
		reply(map[string]any{"@odata.id": "/redfish/v1/Systems", "Members@odata.count": 1,
			"Members": []any{link("/redfish/v1/Systems/1")}})
	case path == "/redfish/v1/Systems/1":
		state := "Off"
		if f.on {
			state = "On"
		}
		reply(map[string]any{"@odata.id": "/redfish/v1/Systems/1", "Id": "1", "PowerState": state,
			"Actions": map[string]any{"#ComputerSystem.Reset": map[string]any{
				"target":                            "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
				"ResetType@Redfish.AllowableValues": []string{"On", "ForceOff", "GracefulShutdown", "ForceRestart"},
			}}})
	case path == "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset" && r.Method == http.MethodPost:
		var body struct{ ResetType string }
		json.NewDecoder(r.Body).Decode(&body)
		f.resets = append(f.resets, body.ResetType)
		f.on = body.ResetType == "On" || body.ResetType == "ForceRestart"
		w.WriteHeader(http.StatusNoContent)
	case path == "/redfish/v1/Chassis":
		reply(map[string]any{"@odata.id": "/redfish/v1/Chassis", "Members@odata.count": 1,
			"Members": []any{link("/redfish/v1/Chassis/1")}})
	case path == "/redfish/v1/Chassis/1":
		ch := map[string]any{"@odata.id": "/redfish/v1/Chassis/1", "Id": "1", "Power": link("/redfish/v1/Chassis/1/Power")}
		if f.withEnergy {
			ch["EnvironmentMetrics"] = link("/redfish/v1/Chassis/1/EnvironmentMetrics")
		}
		reply(ch)
	case path == "/redfish/v1/Chassis/1/Power":
		reply(map[string]any{"@odata.id": "/redfish/v1/Chassis/1/Power",
			"PowerControl": []any{map[string]any{"PowerConsumedWatts": 187}}})
	case path == "/redfish/v1/Chassis/1/EnvironmentMetrics":
		reply(map[string]any{"@odata.id": "/redfish/v1/Chassis/1/EnvironmentMetrics",
			"EnergykWh": map[string]any{"Reading": 1.5, "DataSourceUri": "/redfish/v1/Chassis/1/Sensors/Energy"}})
	default:
		http.NotFound(w, r)
	}
}
