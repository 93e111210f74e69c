package assoc

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bmc-sched/bmc/internal/tomlpos"
)

// ParseFile reads associations as a site keeps them in git:
//
//	[[account]]
//	name = "science"                 # an organisation: no parent
//	description = "Faculty of Science"
//	[[account]]
//	name = "physics"
//	parent = "science"
//	shares = 2                       # fair share against its siblings (default 1)
//	coordinators = ["ann"]
//	energy_limit_kwh = 500           # optional quota ...
//	period = "@monthly"              # ... reset by this cron (default @monthly; "none": never)
//	[[user]]
//	name = "ann"
//	accounts = ["physics", "chemistry"]
//	default = "physics"              # default: the first listed
//	energy_limit_kwh = 50
//
// and checks them as a whole (NewTree). Every problem is one line naming
// the file and line, like the job file's: a *tomlpos.Error, or a
// tomlpos.ErrorList for several. name is only used in them.
func ParseFile(name string, data []byte) (*Tree, error) {
	m, ix, err := tomlpos.DecodeLimited(data, tomlpos.Limits{MaxKeys: 2*MaxRecords + 16, MaxTables: 2*MaxRecords + 16})
	if err != nil {
		var se *tomlpos.SyntaxError
		var sh *tomlpos.ShapeError
		switch {
		case errors.As(err, &se):
			return nil, &tomlpos.Error{File: name, Line: se.Line, Msg: err.Error(), Cause: ErrInvalid}
		case errors.As(err, &sh):
			return nil, &tomlpos.Error{File: name, Line: sh.Line, Field: sh.Field, Msg: sh.Msg, Cause: ErrInvalid}
		}
		return nil, &tomlpos.Error{File: name, Msg: err.Error(), Cause: ErrInvalid}
	}
	p := &fileParser{file: name, ix: ix, lines: map[string]int{}}
	var accounts []Account
	var users []User
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		switch k {
		case "account":
			for i, t := range p.tables(m[k], k) {
				accounts = append(accounts, p.account(t, []string{k, fmt.Sprint(i)}))
			}
		case "user":
			for i, t := range p.tables(m[k], k) {
				users = append(users, p.user(t, []string{k, fmt.Sprint(i)}))
			}
		default:
			p.fail([]string{k}, k, "unknown section"+didYouMean(k, []string{"account", "user"}))
		}
	}
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *tomlpos.Error) int { return a.Line - b.Line })
		return nil, tomlpos.ErrorOf(p.errs)
	}
	t, err := NewTree(accounts, users)
	if err != nil {
		// The tree's errors name the record they are about: point at it.
		line := 0
		var re *RecordError
		if errors.As(err, &re) {
			line = p.lines[re.Kind+" "+re.Name]
		}
		return nil, &tomlpos.Error{File: name, Line: line, Msg: strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "), Cause: err}
	}
	return t, nil
}

// fileParser collects the problems of one file, each with its line.
type fileParser struct {
	file  string
	ix    *tomlpos.Index
	errs  []*tomlpos.Error
	lines map[string]int // "account NAME" / "user NAME" → line of its table
}

func (p *fileParser) fail(path []string, field, msg string) {
	p.errs = append(p.errs, &tomlpos.Error{File: p.file, Line: p.ix.Line(path...), Field: field, Msg: msg, Cause: ErrInvalid})
}

func (p *fileParser) tables(v any, key string) []map[string]any {
	arr, ok := v.([]any)
	if !ok {
		p.fail([]string{key}, key, fmt.Sprintf("must be an array of tables ([[%s]]), not %s", key, tomlpos.TypeName(v)))
		return nil
	}
	out := make([]map[string]any, 0, len(arr))
	for i, e := range arr {
		t, ok := e.(map[string]any)
		if !ok {
			p.fail([]string{key, fmt.Sprint(i)}, key, "must be a table, not "+tomlpos.TypeName(e))
			continue
		}
		out = append(out, t)
	}
	return out
}

// fields reads one table's keys: known[key] receives each value present.
func (p *fileParser) fields(t map[string]any, path []string, known map[string]func(v any, path []string, field string)) {
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	for _, k := range slices.Sorted(slices.Values(names)) {
		if v, ok := t[k]; ok {
			known[k](v, append(slices.Clone(path), k), k)
		}
	}
	for k := range t {
		if _, ok := known[k]; !ok {
			p.fail(append(slices.Clone(path), k), k, "unknown field"+didYouMean(k, names))
		}
	}
}

func (p *fileParser) str(dst *string) func(any, []string, string) {
	return func(v any, path []string, field string) {
		s, ok := v.(string)
		if !ok {
			p.fail(path, field, "must be a string, not "+tomlpos.TypeName(v))
			return
		}
		*dst = s
	}
}

func (p *fileParser) strs(dst *[]string) func(any, []string, string) {
	return func(v any, path []string, field string) {
		arr, ok := v.([]any)
		if !ok {
			p.fail(path, field, "must be an array of strings, not "+tomlpos.TypeName(v))
			return
		}
		for _, e := range arr {
			s, ok := e.(string)
			if !ok {
				p.fail(path, field, "must be an array of strings; found "+tomlpos.TypeName(e))
				return
			}
			*dst = append(*dst, s)
		}
	}
}

func (p *fileParser) kwh(dst *float64) func(any, []string, string) {
	return func(v any, path []string, field string) {
		switch x := v.(type) {
		case float64:
			*dst = x
		case int64:
			*dst = float64(x)
		default:
			p.fail(path, field, "must be a number of kWh, not "+tomlpos.TypeName(v))
		}
	}
}

// count reads a job count limit: an integer 0..MaxJobLimit.
func (p *fileParser) count(dst *int) func(any, []string, string) {
	return func(v any, path []string, field string) {
		n, ok := v.(int64)
		if !ok || n < 0 || n > MaxJobLimit {
			p.fail(path, field, fmt.Sprintf("must be an integer 0..%d, not %v", MaxJobLimit, v))
			return
		}
		*dst = int(n)
	}
}

func (p *fileParser) account(t map[string]any, path []string) Account {
	var a Account
	p.fields(t, path, map[string]func(any, []string, string){
		"name": p.str(&a.Name), "parent": p.str(&a.Parent), "description": p.str(&a.Description),
		"coordinators": p.strs(&a.Coordinators), "energy_limit_kwh": p.kwh(&a.Limit.EnergyKWh), "period": p.str(&a.Limit.Period),
		"max_submit_jobs": p.count(&a.Jobs.MaxSubmitJobs), "max_jobs": p.count(&a.Jobs.MaxJobs),
		"shares": func(v any, path []string, field string) {
			n, ok := v.(int64)
			if !ok || n < 1 || n > 1e6 {
				p.fail(path, field, fmt.Sprintf("must be an integer 1..1000000, not %v", v))
				return
			}
			a.Shares = int(n)
		},
	})
	p.lines["account "+a.Name] = p.ix.Line(path...)
	return a
}

func (p *fileParser) user(t map[string]any, path []string) User {
	var u User
	p.fields(t, path, map[string]func(any, []string, string){
		"name": p.str(&u.Name), "default": p.str(&u.DefaultAccount), "accounts": p.strs(&u.Accounts),
		"energy_limit_kwh": p.kwh(&u.Limit.EnergyKWh), "period": p.str(&u.Limit.Period),
		"max_submit_jobs": p.count(&u.Jobs.MaxSubmitJobs), "max_jobs": p.count(&u.Jobs.MaxJobs),
	})
	p.lines["user "+u.Name] = p.ix.Line(path...)
	return u
}

func didYouMean(key string, known []string) string {
	if s := tomlpos.Suggest(key, known); s != "" {
		return "; did you mean " + s + "?"
	}
	return ""
}
