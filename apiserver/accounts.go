package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/ctld"
)

// MaxImportBody bounds an association or carbon import: a year of hourly
// values is half a megabyte, a large site's associations a few.
const MaxImportBody = 32 << 20

// accountingRoutes serves associations, quotas, fair share, statements and
// carbon imports.
func (s *Server) accountingRoutes() {
	s.mux.HandleFunc("GET "+api.PathAccounts, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.c.Associations())
	})
	s.mux.HandleFunc("POST "+api.PathAccounts, withBody(s, func(who ctld.Identity, r *http.Request, a assoc.Account) (any, error) {
		return struct{}{}, s.c.AddAccount(who, a)
	}))
	s.mux.HandleFunc("PUT "+api.PathAccounts+"/{name}", withBody(s, func(who ctld.Identity, r *http.Request, a assoc.Account) (any, error) {
		if a.Name != r.PathValue("name") {
			return nil, fmt.Errorf("%w: the body names account %q, the path %q", ctld.ErrInvalid, a.Name, r.PathValue("name"))
		}
		return struct{}{}, s.c.PutAccount(who, a)
	}))
	s.mux.HandleFunc("DELETE "+api.PathAccounts+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		answer(w, struct{}{}, s.c.DeleteAccount(s.identity(r), r.PathValue("name")))
	})
	s.mux.HandleFunc("POST "+api.PathUsers, withBody(s, func(who ctld.Identity, r *http.Request, u assoc.User) (any, error) {
		return struct{}{}, s.c.AddUser(who, u)
	}))
	s.mux.HandleFunc("PUT "+api.PathUsers+"/{name}", withBody(s, func(who ctld.Identity, r *http.Request, u assoc.User) (any, error) {
		if u.Name != r.PathValue("name") {
			return nil, fmt.Errorf("%w: the body names user %q, the path %q", ctld.ErrInvalid, u.Name, r.PathValue("name"))
		}
		return struct{}{}, s.c.PutUser(who, u)
	}))
	s.mux.HandleFunc("DELETE "+api.PathUsers+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		answer(w, struct{}{}, s.c.DeleteUser(s.identity(r), r.PathValue("name")))
	})
	s.mux.HandleFunc("PUT "+api.PathAssociations, withBody(s, func(who ctld.Identity, r *http.Request, req api.ImportRequest) (any, error) {
		return s.c.ImportAssociations(who, req)
	}))
	s.mux.HandleFunc("GET "+api.PathQuota, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.c.Quota())
	})
	s.mux.HandleFunc("GET "+api.PathShare, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.c.Share())
	})
	s.mux.HandleFunc("GET "+api.PathStatement, func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		q := api.StatementQuery{Account: v.Get("account"), Period: v.Get("period")}
		if err := queryTimes(r, map[string]*time.Time{"start": &q.Start, "end": &q.End}); err != nil {
			WriteError(w, err)
			return
		}
		st, err := s.c.Statement(s.identity(r), q)
		answer(w, st, err)
	})
	s.mux.HandleFunc("PUT "+api.PathCarbon, withBody(s, func(who ctld.Identity, r *http.Request, req api.CarbonImport) (any, error) {
		return s.c.ImportCarbon(who, req.Hours)
	}))
}

// withBody decodes a JSON body strictly into T and answers fn's result.
func withBody[T any](s *Server, fn func(ctld.Identity, *http.Request, T) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in T
		if err := decodeStrict(r.Body, &in); err != nil {
			WriteError(w, err)
			return
		}
		out, err := fn(s.identity(r), r, in)
		answer(w, out, err)
	}
}

func answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		WriteError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, MaxImportBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %w", ctld.ErrInvalid, err)
	}
	return nil
}
