package node

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/bmc-sched/bmc/internal/tomlpos"
)

// fields reads one node's merged fields ([defaults] under its [[node]]
// table) by type, reporting a value of the wrong type on its own line.
type fields struct {
	p      *parser
	f      map[string]src
	hinted map[string]bool // fields whose absence is reported elsewhere
	header int             // the [[node]] line, for missing fields
}

// missing reports a required field that is not there.
func (fs fields) missing(field string) {
	if fs.hinted[field] {
		return
	}
	fs.p.errs = append(fs.p.errs, &Error{Line: fs.header, Field: field, Msg: "is required"})
}

func (fs fields) str(field string) (string, bool) {
	s, ok := fs.f[field]
	if !ok {
		return "", false
	}
	x, ok := s.v.(string)
	if !ok {
		fs.p.fail(s.path, field, "must be a string, not "+tomlpos.TypeName(s.v))
	}
	return x, ok
}

func (fs fields) integer(field string) (int64, bool) {
	s, ok := fs.f[field]
	if !ok {
		return 0, false
	}
	x, ok := s.v.(int64)
	if !ok {
		fs.p.fail(s.path, field, "must be an integer, not "+tomlpos.TypeName(s.v))
	}
	return x, ok
}

func (fs fields) boolean(field string) (bool, bool) {
	s, ok := fs.f[field]
	if !ok {
		return false, false
	}
	x, ok := s.v.(bool)
	if !ok {
		fs.p.fail(s.path, field, "must be a boolean, not "+tomlpos.TypeName(s.v))
	}
	return x, ok
}

// names reads an array of names (features, partitions).
func (fs fields) names(field string) []string {
	s, ok := fs.f[field]
	if !ok {
		return nil
	}
	arr, ok := s.v.([]any)
	if !ok {
		fs.p.fail(s.path, field, "must be an array of strings, not "+tomlpos.TypeName(s.v))
		return nil
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		x, ok := e.(string)
		ep := append(slices.Clone(s.path), strconv.Itoa(i))
		switch {
		case !ok:
			fs.p.fail(ep, field, fmt.Sprintf("element %d must be a string, not %s", i+1, tomlpos.TypeName(e)))
			return nil
		case !nameRE.MatchString(x):
			fs.p.fail(ep, field, fmt.Sprintf("%q is not a name (letters, digits, '.', '_', '-')", x))
			return nil
		}
		out = append(out, x)
	}
	return out
}

// bad reports a field whose value is refused, on its line.
func (fs fields) bad(field, msg string) { fs.p.fail(fs.f[field].path, field, msg) }
