package apiserver

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/ctld"
)

// acct serves GET /v1/acct.
func (s *Server) acct(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f ctld.AcctFilter
	for _, v := range q["id"] {
		for _, one := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.SplitN(one, "_", 2)[0], 10, 64)
			if err != nil {
				WriteError(w, fmt.Errorf("%w: %q is not a job id", ctld.ErrInvalid, one))
				return
			}
			if f.IDs == nil {
				f.IDs = map[uint64]bool{}
			}
			f.IDs[n] = true
		}
	}
	for _, v := range q["user"] {
		f.Users = setAdd(f.Users, v)
	}
	for _, v := range q["account"] {
		f.Accounts = setAdd(f.Accounts, v)
	}
	states, err := parseStates(q["state"])
	if err != nil {
		WriteError(w, err)
		return
	}
	f.States = states
	for name, t := range map[string]*time.Time{"start": &f.Start, "end": &f.End} {
		if v := q.Get(name); v != "" {
			p, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				WriteError(w, fmt.Errorf("%w: %s: %w", ctld.ErrInvalid, name, err))
				return
			}
			*t = p
		}
	}
	f.Entries = q.Get("entries") != ""
	list, err := s.c.Acct(f)
	if err != nil {
		WriteError(w, err)
		return
	}
	s.redactAcct(s.identity(r), &list)
	writeJSON(w, http.StatusOK, list)
}

// curve serves GET /v1/acct/{id}/curve.
func (s *Server) curve(w http.ResponseWriter, r *http.Request) { byJobID(s, w, r, s.c.Curve) }

// samples serves GET /v1/acct/{id}/samples.
func (s *Server) samples(w http.ResponseWriter, r *http.Request) { byJobID(s, w, r, s.c.JobSamples) }

// recompute serves GET /v1/acct/{id}/recompute.
func (s *Server) recompute(w http.ResponseWriter, r *http.Request) { byJobID(s, w, r, s.c.Recompute) }

// byJobID answers fn for the job id in the path, to whoever may read that
// job's bill (--private-data).
func byJobID[T any](s *Server, w http.ResponseWriter, r *http.Request, fn func(uint64) (T, error)) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		WriteError(w, fmt.Errorf("%w: %q is not a job id", ctld.ErrInvalid, r.PathValue("id")))
		return
	}
	if err := s.mayReadBill(s.identity(r), r.PathValue("id")); err != nil {
		WriteError(w, err)
		return
	}
	out, err := fn(id)
	answer(w, out, err)
}

// balance answers each node's energy balance over ?start=&end= (RFC 3339;
// either may be left out).
func (s *Server) balance(w http.ResponseWriter, r *http.Request) {
	var from, to time.Time
	if err := queryTimes(r, map[string]*time.Time{"start": &from, "end": &to}); err != nil {
		WriteError(w, err)
		return
	}
	b, err := s.c.Balance(from, to)
	answer(w, b, err)
}

// queryTimes reads the named RFC 3339 times of a request's query; a name
// left out leaves its time zero.
func queryTimes(r *http.Request, ts map[string]*time.Time) error {
	for name, t := range ts {
		if x := r.URL.Query().Get(name); x != "" {
			p, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ctld.ErrInvalid, name, err)
			}
			*t = p
		}
	}
	return nil
}
