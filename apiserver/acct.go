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
func (s *Server) curve(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		WriteError(w, fmt.Errorf("%w: %q is not a job id", ctld.ErrInvalid, r.PathValue("id")))
		return
	}
	if err := s.mayReadBill(s.identity(r), r.PathValue("id")); err != nil {
		WriteError(w, err)
		return
	}
	cv, err := s.c.Curve(id)
	if err != nil {
		WriteError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, cv)
}
