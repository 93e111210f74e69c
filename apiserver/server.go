// Package apiserver is bmcctld's user API: the HTTP routes and the plain
// protocol (api/wire) on the one Unix socket, the caller's identity from the
// kernel (SO_PEERCRED, never what a client claims) with admin rights from
// the admin group, request parsing and limits, and the mapping of the
// controller's errors to status codes and one-line messages. It holds no
// state: every request becomes one call on a Controller.
package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/ctld"
	"github.com/bmc-sched/bmc/internal/connlimit"
	"github.com/bmc-sched/bmc/job"
)

// MaxRequestBody bounds a submit; a job file is a few KiB.
const MaxRequestBody = 1 << 20

type ctxKey struct{}

// Server is the user API over HTTP on a Unix socket. ctld.Identity comes from the
// kernel (SO_PEERCRED), never from anything the client claims.
type Server struct {
	c          Controller
	log        *slog.Logger
	adminGroup string
	version    string
	mux        *http.ServeMux
	// readTimeout is how long a plain-protocol client may take to send
	// its request (SetReadTimeout).
	readTimeout time.Duration
	privacy     Privacy
	// bufs are the answers' write buffers (chunks), kept between requests.
	bufs sync.Pool
}

// SetReadTimeout sets how long a plain-protocol client may take to send
// its request (DefaultReadTimeout until set).
func (s *Server) SetReadTimeout(d time.Duration) { s.readTimeout = d }

// DefaultReadTimeout bounds how long a client may take to send a request.
const DefaultReadTimeout = 10 * time.Second

// Controller is what the API asks of the controller; *ctld.Controller
// implements it.
type Controller interface {
	Jobs
	Accounts
}

// Jobs is the queue and the machines: submit, list, follow and act on jobs,
// list and drain nodes, and the energy report.
type Jobs interface {
	Submit(ctx context.Context, who ctld.Identity, req api.SubmitRequest) (api.SubmitResponse, error)
	// WhenGreenest sets the begin time of a plain-protocol submit with
	// --when-greenest and returns the line that tells the user.
	WhenGreenest(sub *wire.Submit, spec *job.Spec) (string, error)
	// Listing is the queue; its rows are built as the answer is written.
	Listing(f ctld.Filter) (*ctld.Listing, error)
	JobDetail(expr string) (api.JobDetail, error)
	WaitChange(ctx context.Context, id uint64, from job.State) (api.JobDetail, error)
	Act(who ctld.Identity, expr, action string) ([]uint64, error)
	Nodes() []api.NodeInfo
	NodeDetail(name string) (api.NodeDetail, error)
	NodeAction(who ctld.Identity, name, action, reason string) error
	Acct(f ctld.AcctFilter) (api.AcctList, error)
	Curve(id uint64) (api.PowerCurve, error)
	Balance(from, to time.Time) (api.Balance, error)
	JobSamples(id uint64) (api.JobSamples, error)
	Recompute(id uint64) (api.Recompute, error)
	// Coordinates reports whether user coordinates account (or one above
	// it): they see its jobs whole.
	Coordinates(user, account string) bool
}

// Accounts is what an energy manager runs: associations, quotas, fair
// share, statements and carbon intensity.
type Accounts interface {
	Associations() api.Associations
	AddAccount(who ctld.Identity, a assoc.Account) error
	PutAccount(who ctld.Identity, a assoc.Account) error
	DeleteAccount(who ctld.Identity, name string) error
	AddUser(who ctld.Identity, u assoc.User) error
	PutUser(who ctld.Identity, u assoc.User) error
	DeleteUser(who ctld.Identity, name string) error
	ImportAssociations(who ctld.Identity, r api.ImportRequest) (api.ImportResult, error)
	Quota() api.QuotaList
	Share() api.ShareList
	Statement(who ctld.Identity, q api.StatementQuery) (api.Statement, error)
	ImportCarbon(who ctld.Identity, in []accounting.CarbonHour) (api.CarbonImported, error)
}

var _ Controller = (*ctld.Controller)(nil)

// NewServer wires the routes.
func NewServer(c Controller, log *slog.Logger, adminGroup, version string) *Server {
	s := &Server{c: c, log: log, adminGroup: adminGroup, version: version, mux: http.NewServeMux(), readTimeout: DefaultReadTimeout, privacy: DefaultPrivacy}
	s.mux.HandleFunc("GET "+api.PathPing, s.ping)
	s.mux.HandleFunc("POST "+api.PathJobs, s.submit)
	s.mux.HandleFunc("GET "+api.PathJobs, s.list)
	s.mux.HandleFunc("GET "+api.PathJobs+"/{id}", s.show)
	s.mux.HandleFunc("GET "+api.PathJobs+"/{id}/wait", s.wait)
	s.mux.HandleFunc("POST "+api.PathJobs+"/{id}/{action}", s.act)
	s.mux.HandleFunc("GET "+api.PathNodes, s.nodes)
	s.mux.HandleFunc("GET "+api.PathNodes+"/{name}", s.node)
	s.mux.HandleFunc("POST "+api.PathNodes+"/{name}/{action}", s.nodeAct)
	s.mux.HandleFunc("GET "+api.PathAcct, s.acct)
	s.mux.HandleFunc("GET "+api.PathAcct+"/{id}/curve", s.curve)
	s.mux.HandleFunc("GET "+api.PathBalance, s.balance)
	s.mux.HandleFunc("GET "+api.PathAcct+"/{id}/samples", s.samples)
	s.mux.HandleFunc("GET "+api.PathAcct+"/{id}/recompute", s.recompute)
	s.accountingRoutes()
	return s
}

// Handle adds a route (used by later features: kernels, accounting).
func (s *Server) Handle(pattern string, h func(w http.ResponseWriter, r *http.Request, who ctld.Identity)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { h(w, r, s.identity(r)) })
}

// ServeHTTP lets tests drive the server without a socket.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := r.Context().Value(ctxKey{}).(*unix.Ucred); !ok {
		WriteError(w, fmt.Errorf("%w: no peer credentials on this connection", ctld.ErrForbidden))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// ConnContext attaches the peer's credentials to every request on conn.
func ConnContext(ctx context.Context, conn net.Conn) context.Context {
	cred := peerCred(conn)
	if cred == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, cred)
}

func peerCred(conn net.Conn) *unix.Ucred { return connlimit.PeerCred(conn) }

// Peer counts the socket's connections by uid for the connection caps;
// root and the admin group are the privileged, who always get through.
func (s *Server) Peer() connlimit.Peer { return uidPeer{s} }

type uidPeer struct{ s *Server }

func (p uidPeer) Key(c net.Conn) (string, bool) {
	uid, ok := connlimit.UID(c)
	return strconv.FormatUint(uint64(uid), 10), ok
}

func (p uidPeer) Privileged(key string) bool {
	uid, err := strconv.ParseUint(key, 10, 32)
	if err != nil {
		return false
	}
	return uid == 0 || p.s.identityOf(&unix.Ucred{Uid: uint32(uid)}).Admin
}

// WithCred is ConnContext for tests that have no socket.
func WithCred(ctx context.Context, uid, gid uint32) context.Context {
	return context.WithValue(ctx, ctxKey{}, &unix.Ucred{Uid: uid, Gid: gid})
}

func (s *Server) identity(r *http.Request) ctld.Identity {
	return s.identityOf(r.Context().Value(ctxKey{}).(*unix.Ucred))
}

func (s *Server) identityOf(cred *unix.Ucred) ctld.Identity {
	id := ctld.Identity{UID: cred.Uid, GID: cred.Gid, User: strconv.FormatUint(uint64(cred.Uid), 10)}
	u, err := user.LookupId(id.User)
	if err == nil {
		id.User = u.Username
	}
	id.Admin = cred.Uid == 0
	if !id.Admin && s.adminGroup != "" && u != nil {
		if g, err := user.LookupGroup(s.adminGroup); err == nil {
			if gids, err := u.GroupIds(); err == nil {
				for _, gid := range gids {
					if gid == g.Gid {
						id.Admin = true
					}
				}
			}
		}
	}
	return id
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	who := s.identity(r)
	writeJSON(w, http.StatusOK, api.Whoami{UID: who.UID, User: who.User, Admin: who.Admin, Version: s.version})
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	var req api.SubmitRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, MaxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		WriteError(w, fmt.Errorf("%w: request body: %w", ctld.ErrInvalid, err))
		return
	}
	resp, err := s.c.Submit(r.Context(), s.identity(r), req)
	if err != nil {
		WriteError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := jobFilter(q["user"], q["state"], q["id"], q.Get("all") != "")
	if err != nil {
		WriteError(w, err)
		return
	}
	l, err := s.c.Listing(f)
	if err != nil {
		WriteError(w, err)
		return
	}
	s.writeJobList(w, s.rows(s.identity(r), l))
}

// jobFilter reads a listing's filters as both protocols carry them.
func jobFilter(users, states, ids []string, all bool) (ctld.Filter, error) {
	f := ctld.Filter{All: all}
	for _, u := range users {
		f.Users = setAdd(f.Users, u)
	}
	st, err := parseStates(states)
	if err != nil {
		return f, err
	}
	f.States = st
	for _, id := range ids {
		n, err := strconv.ParseUint(strings.SplitN(id, "_", 2)[0], 10, 64)
		if err != nil {
			return f, fmt.Errorf("%w: %q is not a job id", ctld.ErrInvalid, id)
		}
		if f.IDs == nil {
			f.IDs = map[uint64]bool{}
		}
		f.IDs[n] = true
	}
	return f, nil
}

// writeJobList writes what writeJSON writes for api.JobList, a row at a
// time and without reflection: encoding 10,000 rows with encoding/json into
// one buffer took most of `bmcq --json`'s time, grew the buffer to 4 MB
// (8 MB allocated on the way) which the daemon then kept as resident memory,
// and made the client wait for the last row before it could read the first.
func (s *Server) writeJobList(w http.ResponseWriter, rows jobRows) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if rows.Null() {
		io.WriteString(w, "{\"jobs\":null}\n")
		return
	}
	out := s.chunks(w)
	defer out.done()
	out.buf = append(out.buf, `{"jobs":[`...)
	for i := range rows.Len() {
		if i > 0 {
			out.buf = append(out.buf, ',')
		}
		in := rows.Row(i)
		var err error
		if out.buf, err = in.AppendJSON(out.buf); err != nil {
			// A row that cannot be encoded is a bug; the client gets an
			// answer it cannot decode rather than a silently shorter queue.
			out.flush()
			return
		}
		if !out.maybeFlush() {
			return
		}
	}
	out.buf = append(out.buf, "]}\n"...)
	out.flush()
}

func setAdd(m map[string]bool, v string) map[string]bool {
	if m == nil {
		m = map[string]bool{}
	}
	for _, one := range strings.Split(v, ",") {
		m[one] = true
	}
	return m
}

// parseStates reads ?state= values (repeated or comma-separated); nil when none.
func parseStates(vals []string) (map[job.State]bool, error) {
	var out map[job.State]bool
	for _, v := range vals {
		for _, one := range strings.Split(v, ",") {
			state, err := parseState(one)
			if err != nil {
				return nil, err
			}
			if out == nil {
				out = map[job.State]bool{}
			}
			out[state] = true
		}
	}
	return out, nil
}

// parseState accepts state names in any case and Slurm's short forms.
func parseState(s string) (job.State, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	short := map[string]job.State{"PD": job.Pending, "R": job.Running, "CD": job.Completed, "F": job.Failed,
		"CA": job.Cancelled, "TO": job.Timeout, "BF": job.BootFail, "NF": job.NodeFail, "CF": job.Booting}
	if st, ok := short[u]; ok {
		return st, nil
	}
	for _, st := range job.AllStates {
		if string(st) == u {
			return st, nil
		}
	}
	return "", fmt.Errorf("%w: unknown state %q", ctld.ErrInvalid, s)
}

func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	d, err := s.c.JobDetail(r.PathValue("id"))
	if err != nil {
		WriteError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.redactDetail(s.identity(r), d))
}

func (s *Server) wait(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		WriteError(w, fmt.Errorf("%w: %q is not a job id", ctld.ErrInvalid, r.PathValue("id")))
		return
	}
	d, err := s.c.WaitChange(r.Context(), id, job.State(r.URL.Query().Get("from")))
	if err != nil {
		WriteError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.redactDetail(s.identity(r), d))
}

func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	ids, err := s.c.Act(s.identity(r), r.PathValue("id"), r.PathValue("action"))
	if err != nil {
		WriteError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ActionResult{Jobs: ids})
}

func (s *Server) nodes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.NodeList{Nodes: s.c.Nodes()})
}

func (s *Server) node(w http.ResponseWriter, r *http.Request) {
	d, err := s.c.NodeDetail(r.PathValue("name"))
	if err != nil {
		WriteError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) nodeAct(w http.ResponseWriter, r *http.Request) {
	var req api.DrainRequest
	if r.ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(r.Body, MaxRequestBody)).Decode(&req); err != nil {
			WriteError(w, fmt.Errorf("%w: request body: %w", ctld.ErrInvalid, err))
			return
		}
	}
	if err := s.c.NodeAction(s.identity(r), r.PathValue("name"), r.PathValue("action"), req.Reason); err != nil {
		WriteError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// WriteError maps controller errors to HTTP codes with a one-line message.
func WriteError(w http.ResponseWriter, err error) {
	code, msg := errorStatus(err)
	writeJSON(w, code, api.Error{Error: msg})
}

// errorStatus is the HTTP status code and the message an error is
// answered with, in both protocols.
func errorStatus(err error) (int, string) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ctld.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ctld.ErrForbidden):
		code = http.StatusForbidden
	case errors.Is(err, ctld.ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, ctld.ErrInvalid):
		code = http.StatusBadRequest
	}
	msg := err.Error()
	for _, prefix := range []string{ctld.ErrInvalid.Error() + ": ", ctld.ErrForbidden.Error() + ": ", ctld.ErrConflict.Error() + ": "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	if code == http.StatusForbidden && !strings.Contains(msg, ctld.ErrForbidden.Error()) {
		msg = ctld.ErrForbidden.Error() + ": " + msg
	}
	return code, msg
}
