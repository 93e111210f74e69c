package redfishtest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

const root = "/redfish/v1"

type doc = map[string]any

func link(p string) doc { return doc{"@odata.id": p} }

func (s *Server) sysPath() string     { return root + "/Systems/" + s.o.SystemID }
func (s *Server) chassisPath() string { return root + "/Chassis/" + s.o.ChassisID }

// maxBody bounds what a client may send: a reset or a boot override is tiny.
const maxBody = 64 << 10

func (s *Server) routes() {
	m := http.NewServeMux()
	open := func(pattern string, h http.HandlerFunc) { m.HandleFunc(pattern, h) }
	auth := func(pattern string, h http.HandlerFunc) { m.HandleFunc(pattern, s.authorized(h)) }

	// The service root and the session login are open to all, as the spec says.
	open("GET /redfish", func(w http.ResponseWriter, r *http.Request) { reply(w, doc{"v1": root + "/"}) })
	open("GET /redfish/v1", s.serviceRoot)
	open("GET /redfish/v1/{$}", s.serviceRoot)
	open("POST /redfish/v1/SessionService/Sessions", s.login)

	auth("GET /redfish/v1/SessionService", func(w http.ResponseWriter, r *http.Request) {
		reply(w, doc{"@odata.id": root + "/SessionService", "@odata.type": "#SessionService.v1_1_8.SessionService",
			"Id": "SessionService", "ServiceEnabled": true, "Sessions": link(root + "/SessionService/Sessions")})
	})
	auth("GET /redfish/v1/SessionService/Sessions", s.sessionList)
	auth("GET /redfish/v1/SessionService/Sessions/{id}", s.sessionGet)
	auth("DELETE /redfish/v1/SessionService/Sessions/{id}", s.logout)
	auth("GET /redfish/v1/Systems", func(w http.ResponseWriter, r *http.Request) {
		reply(w, collection(root+"/Systems", "#ComputerSystemCollection.ComputerSystemCollection", s.sysPath()))
	})
	auth("GET /redfish/v1/Systems/{id}", s.one(s.o.SystemID, s.system))
	auth("PATCH /redfish/v1/Systems/{id}", s.one(s.o.SystemID, s.patchSystem))
	auth("POST /redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset", s.one(s.o.SystemID, s.resetAction))
	auth("GET /redfish/v1/Chassis", func(w http.ResponseWriter, r *http.Request) {
		reply(w, collection(root+"/Chassis", "#ChassisCollection.ChassisCollection", s.chassisPath()))
	})
	auth("GET /redfish/v1/Chassis/{id}", s.one(s.o.ChassisID, s.chassis))
	auth("GET /redfish/v1/Chassis/{id}/Power", s.one(s.o.ChassisID, s.power))
	auth("GET /redfish/v1/Chassis/{id}/EnvironmentMetrics", s.one(s.o.ChassisID, s.environment))
	auth("GET /redfish/v1/Managers", func(w http.ResponseWriter, r *http.Request) {
		reply(w, collection(root+"/Managers", "#ManagerCollection.ManagerCollection", root+"/Managers/bmc"))
	})
	auth("GET /redfish/v1/Managers/bmc", func(w http.ResponseWriter, r *http.Request) {
		reply(w, doc{"@odata.id": root + "/Managers/bmc", "@odata.type": "#Manager.v1_10_0.Manager",
			"Id": "bmc", "Name": "bmc lab Redfish BMC", "ManagerType": "BMC", "PowerState": "On",
			"Links": doc{"ManagerForServers": []doc{link(s.sysPath())}, "ManagerForChassis": []doc{link(s.chassisPath())}}})
	})
	s.mux = m
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// "/redfish/v1/Systems/" and "/redfish/v1/Systems" are one resource.
	if p := r.URL.Path; len(p) > len(root)+1 && strings.HasSuffix(p, "/") {
		r.URL.Path = strings.TrimRight(p, "/")
	}
	s.mux.ServeHTTP(w, r)
}

func reply(w http.ResponseWriter, d doc) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("OData-Version", "4.0")
	_ = json.NewEncoder(w).Encode(d)
}

// fail answers with a Redfish error body.
func fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(doc{"error": doc{"code": "Base.1.8." + code, "message": msg}})
}

func collection(id, typ string, members ...string) doc {
	ms := make([]doc, len(members))
	for i, m := range members {
		ms[i] = link(m)
	}
	return doc{"@odata.id": id, "@odata.type": typ, "Members@odata.count": len(ms), "Members": ms}
}

// one serves h only for the resource id the BMC has.
func (s *Server) one(id string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != id {
			fail(w, http.StatusNotFound, "ResourceMissingAtURI", "no such resource "+r.URL.Path)
			return
		}
		h(w, r)
	}
}

func (s *Server) serviceRoot(w http.ResponseWriter, _ *http.Request) {
	reply(w, doc{
		"@odata.id": root + "/", "@odata.type": "#ServiceRoot.v1_15_0.ServiceRoot",
		"Id": "RootService", "Name": "bmc lab Redfish service", "RedfishVersion": "1.15.0",
		"UUID":    "92384634-2938-2342-8820-489239905423",
		"Systems": link(root + "/Systems"), "Chassis": link(root + "/Chassis"), "Managers": link(root + "/Managers"),
		"SessionService": link(root + "/SessionService"),
		"Links":          doc{"Sessions": link(root + "/SessionService/Sessions")},
	})
}

// authorized lets a request through with the right basic-auth credentials
// or a session token; the comparison takes the same time however much of a
// guess is right.
func (s *Server) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ok := false
		if u, p, basic := r.BasicAuth(); basic {
			ok = s.credentialsOK(u, p)
		} else if tok := r.Header.Get("X-Auth-Token"); tok != "" {
			s.mu.Lock()
			_, ok = s.sessions[tok]
			s.mu.Unlock()
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="Redfish"`)
			fail(w, http.StatusUnauthorized, "NoValidSession", "authentication required")
			return
		}
		h(w, r)
	}
}

func (s *Server) credentialsOK(user, pass string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(s.o.User))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(s.o.Password))
	return u&p == 1
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(v); err != nil {
		fail(w, http.StatusBadRequest, "MalformedJSON", "request body: "+err.Error())
		return false
	}
	return true
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var body struct{ UserName, Password string }
	if !decode(w, r, &body) {
		return
	}
	if !s.credentialsOK(body.UserName, body.Password) {
		fail(w, http.StatusUnauthorized, "NoValidSession", "invalid username or password")
		return
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		fail(w, http.StatusInternalServerError, "InternalError", "no randomness")
		return
	}
	tok := hex.EncodeToString(b)
	s.mu.Lock()
	s.nextID++
	id := fmt.Sprint(s.nextID)
	s.sessions[tok] = id
	s.mu.Unlock()
	p := root + "/SessionService/Sessions/" + id
	w.Header().Set("X-Auth-Token", tok)
	w.Header().Set("Location", p)
	w.WriteHeader(http.StatusCreated)
	reply(w, doc{"@odata.id": p, "@odata.type": "#Session.v1_3_0.Session", "Id": id, "UserName": body.UserName})
}

func (s *Server) sessionIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.sessions))
	for _, id := range s.sessions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *Server) sessionList(w http.ResponseWriter, _ *http.Request) {
	ids := s.sessionIDs()
	for i, id := range ids {
		ids[i] = root + "/SessionService/Sessions/" + id
	}
	reply(w, collection(root+"/SessionService/Sessions", "#SessionCollection.SessionCollection", ids...))
}

func (s *Server) sessionGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !slices.Contains(s.sessionIDs(), id) {
		fail(w, http.StatusNotFound, "ResourceMissingAtURI", "no session "+id)
		return
	}
	reply(w, doc{"@odata.id": root + "/SessionService/Sessions/" + id, "@odata.type": "#Session.v1_3_0.Session",
		"Id": id, "UserName": s.o.User})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	found := false
	for tok, sid := range s.sessions {
		if sid == id {
			delete(s.sessions, tok)
			found = true
		}
	}
	s.mu.Unlock()
	if !found {
		fail(w, http.StatusNotFound, "ResourceMissingAtURI", "no session "+id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func onOff(on bool) string {
	if on {
		return "On"
	}
	return "Off"
}

func (s *Server) system(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	b := s.boot
	s.mu.Unlock()
	reply(w, doc{
		"@odata.id": s.sysPath(), "@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem",
		"Id": s.o.SystemID, "Name": "lab machine " + s.o.SystemID, "SystemType": "Physical",
		"PowerState": onOff(s.o.Machine.Running()),
		"Status":     doc{"State": "Enabled", "Health": "OK"},
		"Boot": doc{
			"BootSourceOverrideTarget":                         b.Target,
			"BootSourceOverrideEnabled":                        b.Enabled,
			"BootSourceOverrideMode":                           b.Mode,
			"BootSourceOverrideTarget@Redfish.AllowableValues": BootTargets,
		},
		"Actions": doc{"#ComputerSystem.Reset": doc{
			"target":                            s.sysPath() + "/Actions/ComputerSystem.Reset",
			"ResetType@Redfish.AllowableValues": ResetTypes,
		}},
		"Links": doc{"Chassis": []doc{link(s.chassisPath())}, "ManagedBy": []doc{link(root + "/Managers/bmc")}},
	})
}

func (s *Server) patchSystem(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Boot *struct {
			BootSourceOverrideTarget  *string
			BootSourceOverrideEnabled *string
			BootSourceOverrideMode    *string
		}
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Boot == nil {
		fail(w, http.StatusBadRequest, "PropertyNotWritable", "only Boot can be changed")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boot
	if t := body.Boot.BootSourceOverrideTarget; t != nil {
		if !slices.Contains(BootTargets, *t) {
			fail(w, http.StatusBadRequest, "PropertyValueNotInList", fmt.Sprintf("BootSourceOverrideTarget %q not in %v", *t, BootTargets))
			return
		}
		b.Target = *t
	}
	if e := body.Boot.BootSourceOverrideEnabled; e != nil {
		if !slices.Contains([]string{"Disabled", "Once", "Continuous"}, *e) {
			fail(w, http.StatusBadRequest, "PropertyValueNotInList", fmt.Sprintf("BootSourceOverrideEnabled %q", *e))
			return
		}
		b.Enabled = *e
	}
	if m := body.Boot.BootSourceOverrideMode; m != nil {
		if *m != "UEFI" && *m != "Legacy" {
			fail(w, http.StatusBadRequest, "PropertyValueNotInList", fmt.Sprintf("BootSourceOverrideMode %q", *m))
			return
		}
		b.Mode = *m
	}
	s.boot = b
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) resetAction(w http.ResponseWriter, r *http.Request) {
	var body struct{ ResetType string }
	if !decode(w, r, &body) {
		return
	}
	if !slices.Contains(ResetTypes, body.ResetType) {
		fail(w, http.StatusBadRequest, "ActionParameterValueNotInList", fmt.Sprintf("ResetType %q not in %v", body.ResetType, ResetTypes))
		return
	}
	s.mu.Lock()
	s.resets = append(s.resets, body.ResetType)
	if body.ResetType == "On" && s.boot.Enabled == "Once" {
		// A one-time override is used by this boot and then cleared.
		s.boot.Enabled = "Disabled"
	}
	s.mu.Unlock()
	if err := s.reset(r.Context(), body.ResetType); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, errBadReset) {
			status = http.StatusBadRequest
		}
		fail(w, status, "InternalError", "reset "+body.ResetType+": "+err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) chassis(w http.ResponseWriter, _ *http.Request) {
	d := doc{
		"@odata.id": s.chassisPath(), "@odata.type": "#Chassis.v1_23_0.Chassis",
		"Id": s.o.ChassisID, "Name": "lab chassis " + s.o.ChassisID, "ChassisType": "RackMount",
		"PowerState": onOff(s.o.Machine.Running()),
		"Power":      link(s.chassisPath() + "/Power"),
		"Links":      doc{"ComputerSystems": []doc{link(s.sysPath())}},
	}
	if s.o.Meter != nil && !s.o.NoEnergyCounter {
		d["EnvironmentMetrics"] = link(s.chassisPath() + "/EnvironmentMetrics")
	}
	reply(w, d)
}

func (s *Server) watts(w http.ResponseWriter) (float64, bool) {
	if s.o.Meter == nil {
		return 0, true
	}
	v, err := s.o.Meter.Watts()
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "InternalError", "power sensor: "+err.Error())
		return 0, false
	}
	return v, true
}

func (s *Server) power(w http.ResponseWriter, _ *http.Request) {
	v, ok := s.watts(w)
	if !ok {
		return
	}
	reply(w, doc{
		"@odata.id": s.chassisPath() + "/Power", "@odata.type": "#Power.v1_7_1.Power", "Id": "Power", "Name": "Power",
		"PowerControl": []doc{{
			"@odata.id": s.chassisPath() + "/Power#/PowerControl/0", "MemberId": "0", "Name": "System Input Power",
			"PowerConsumedWatts": v,
		}},
	})
}

func (s *Server) environment(w http.ResponseWriter, _ *http.Request) {
	v, ok := s.watts(w)
	if !ok {
		return
	}
	reply(w, doc{
		"@odata.id": s.chassisPath() + "/EnvironmentMetrics", "@odata.type": "#EnvironmentMetrics.v1_3_0.EnvironmentMetrics",
		"Id": "EnvironmentMetrics", "Name": "Chassis environment metrics",
		"PowerWatts": doc{"Reading": v},
		"EnergykWh":  doc{"Reading": s.EnergyKWh()},
	})
}
