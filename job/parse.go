package job

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/bmc-sched/bmc/internal/tomlpos"
)

// Error is one problem in a job file, on one line:
// "job.toml:7: time_limit: "2x" is not a duration".
type Error = tomlpos.Error

// ErrorList is several problems, ordered by line; errors.As finds the first.
type ErrorList = tomlpos.ErrorList

func errorOf(errs []*Error) error { return tomlpos.ErrorOf(errs) }

// ErrTooLarge is a job file over MaxFileBytes.
var ErrTooLarge = errors.New("job file too large")

// MaxFileBytes bounds a job file. It is checked before parsing: a job file
// is a page of settings, and a bigger one is a mistake or an attack.
const MaxFileBytes = 1 << 20

// fileShape bounds what a job file may hold before it is decoded: the
// schema has two small tables (environment, sim), so these are generous,
// and they keep decoding fast (see tomlpos.Limits).
var fileShape = tomlpos.Limits{MaxKeys: 1000, MaxTables: 16}

// Default output patterns, used when the job file names none.
const (
	DefaultOutput      = "bmc-%j.out"
	DefaultArrayOutput = "bmc-%A_%a.out"
)

// Parse reads a job file, applies defaults (nodes = 1, the name from the
// file's base name, the output pattern) and validates it. filename is used in
// messages and for the default name only; nothing is read from disk.
//
// Every problem found is reported, one line each, sorted by line: the error
// is a *Error when there is one problem and an ErrorList when there are more.
// Syntax errors stop parsing, so they are always alone.
func Parse(filename string, data []byte) (*Spec, error) {
	if len(data) > MaxFileBytes {
		return nil, &Error{File: filename, Msg: fmt.Sprintf("%d bytes; a job file may have at most %d (1 MiB)", len(data), MaxFileBytes), Cause: ErrTooLarge}
	}
	m, ix, err := tomlpos.DecodeLimited(data, fileShape)
	if err != nil {
		var se *tomlpos.SyntaxError
		var sh *tomlpos.ShapeError
		if errors.As(err, &sh) {
			return nil, &Error{File: filename, Line: sh.Line, Field: sh.Field, Msg: sh.Msg + " (a job file's limit)", Cause: ErrTooLarge}
		}
		if errors.As(err, &se) {
			return nil, &Error{File: filename, Line: se.Line, Msg: se.Error(), Cause: err}
		}
		return nil, &Error{File: filename, Msg: err.Error(), Cause: err}
	}
	d := &decoder{ix: ix, failed: make(map[string]bool)}
	s := &Spec{}
	for _, k := range d.byLine(m, nil) {
		f, ok := fieldDecoders[k]
		if !ok {
			if sug := d.unknown(k, []string{k}, slices.Sorted(maps.Keys(fieldDecoders))); sug != "" {
				if _, written := m[sug]; !written {
					// "imag" already says what is wrong with the
					// missing "image"; one message is enough.
					d.failed[sug] = true
				}
			}
			continue
		}
		f(d, s, k, m[k])
	}
	applyDefaults(s, filename, m)

	if err := s.Validate(); err != nil {
		var list ErrorList
		var one *Error
		switch {
		case errors.As(err, &list):
		case errors.As(err, &one):
			list = ErrorList{one}
		}
		for _, e := range list {
			if d.failed[e.Field] || d.failed[rootField(e.Field)] {
				continue // already reported as a decoding problem
			}
			e.Line = d.lineOf(e.Field)
			if e.Line == 0 {
				// A missing field has no line of its own; users and tools
				// expect file:line:, and the top of the file is where
				// top-level keys go.
				e.Line = 1
			}
			d.errs = append(d.errs, e)
		}
	}
	for _, e := range d.errs {
		e.File = filename
	}
	slices.SortStableFunc(d.errs, func(a, b *Error) int {
		return cmp.Compare(sortLine(a.Line), sortLine(b.Line))
	})
	if err := errorOf(d.errs); err != nil {
		return nil, err
	}
	return s, nil
}

func sortLine(l int) int {
	if l == 0 {
		return math.MaxInt
	}
	return l
}

func rootField(f string) string {
	root, _, _ := strings.Cut(f, ".")
	return root
}

func applyDefaults(s *Spec, filename string, m map[string]any) {
	if _, ok := m["nodes"]; !ok {
		s.Nodes = 1
	}
	if _, ok := m["name"]; !ok {
		base := filepath.Base(filename)
		base = strings.TrimSuffix(base, filepath.Ext(base))
		if base != "" && base != "." && base != "-" && checkName(base) == nil {
			s.Name = base
		}
	}
	if _, ok := m["output"]; !ok {
		s.Output = DefaultOutput
		if s.Array != nil {
			s.Output = DefaultArrayOutput
		}
	}
}

// decoder turns generic TOML values into Spec fields, collecting one error per
// bad field with the field's line.
type decoder struct {
	ix     *tomlpos.Index
	errs   []*Error
	failed map[string]bool // fields (dotted) that already have an error
}

// byLine returns the keys of table m (at path) in the order they were written.
func (d *decoder) byLine(m map[string]any, path []string) []string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int {
		return cmp.Compare(d.ix.Line(append(path, a)...), d.ix.Line(append(path, b)...))
	})
	return keys
}

// lineOf finds the line of a dotted field, falling back to its parents when a
// part is not written in the file (a default, or a key containing a dot).
func (d *decoder) lineOf(field string) int {
	if field == "" {
		return 0
	}
	parts := strings.Split(field, ".")
	for n := len(parts); n > 0; n-- {
		if l := d.ix.Line(parts[:n]...); l > 0 {
			return l
		}
	}
	return 0
}

func (d *decoder) fail(path []string, msg string, cause error) {
	field := strings.Join(path, ".")
	d.failed[field] = true
	d.errs = append(d.errs, &Error{Line: d.ix.Line(path...), Field: field, Msg: msg, Cause: cause})
}

// unknown reports an unknown key and returns the known key it resembles, if any.
func (d *decoder) unknown(k string, path []string, known []string) string {
	msg := "unknown field"
	sug := tomlpos.Suggest(k, known)
	if sug != "" {
		msg += fmt.Sprintf("; did you mean %s?", sug)
	}
	d.errs = append(d.errs, &Error{Line: d.ix.Line(path...), Field: strings.Join(path, "."), Msg: msg})
	return sug
}

func (d *decoder) wrongType(path []string, want string, v any) {
	d.fail(path, fmt.Sprintf("must be %s, not %s", want, tomlpos.TypeName(v)), nil)
}

func (d *decoder) str(path []string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		d.wrongType(path, "a string", v)
	}
	return s, ok
}

func (d *decoder) integer(path []string, v any) (int, bool) {
	n, ok := v.(int64)
	if !ok {
		d.wrongType(path, "an integer", v)
	}
	return int(n), ok
}

func (d *decoder) strings(path []string, v any) ([]string, bool) {
	arr, ok := v.([]any)
	if !ok {
		d.wrongType(path, "an array of strings", v)
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			el := append(slices.Clone(path), fmt.Sprint(i))
			d.failed[strings.Join(path, ".")] = true
			d.errs = append(d.errs, &Error{Line: d.ix.Line(el...), Field: strings.Join(path, "."),
				Msg: fmt.Sprintf("element %d must be a string, not %s", i+1, tomlpos.TypeName(e))})
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// duration reads a Slurm/Go duration string, or an integer number of
// minutes as Slurm's --time does.
func (d *decoder) duration(path []string, v any) (Duration, bool) {
	switch x := v.(type) {
	case string:
		dur, err := ParseDuration(x)
		if err != nil {
			d.fail(path, err.Error(), err)
			return 0, false
		}
		return Duration(dur), true
	case int64:
		if x <= 0 || x > int64(MaxDuration/time.Minute) {
			d.fail(path, fmt.Sprintf("%d minutes is out of range (1 to %d)", x, MaxDuration/time.Minute), ErrBadDuration)
			return 0, false
		}
		return Duration(time.Duration(x) * time.Minute), true
	}
	d.wrongType(path, "a duration string or a number of minutes", v)
	return 0, false
}

type fieldDecoder func(d *decoder, s *Spec, key string, v any)

// stringField decodes a plain string key into the field set returns.
func stringField(set func(*Spec) *string) fieldDecoder {
	return func(d *decoder, s *Spec, key string, v any) {
		if x, ok := d.str([]string{key}, v); ok {
			*set(s) = x
		}
	}
}

func intField(set func(*Spec) *int) fieldDecoder {
	return func(d *decoder, s *Spec, key string, v any) {
		if x, ok := d.integer([]string{key}, v); ok {
			*set(s) = x
		}
	}
}

// fieldDecoders is the job file's schema: one decoder per top-level key.
// Range and syntax checks that do not need the file live in Validate.
var fieldDecoders = map[string]fieldDecoder{
	"name":      stringField(func(s *Spec) *string { return &s.Name }),
	"image":     stringField(func(s *Spec) *string { return &s.Image }),
	"kernel":    stringField(func(s *Spec) *string { return &s.Kernel }),
	"initrd":    stringField(func(s *Spec) *string { return &s.Initrd }),
	"cmdline":   stringField(func(s *Spec) *string { return &s.Cmdline }),
	"account":   stringField(func(s *Spec) *string { return &s.Account }),
	"partition": stringField(func(s *Spec) *string { return &s.Partition }),
	"output":    stringField(func(s *Spec) *string { return &s.Output }),
	"error":     stringField(func(s *Spec) *string { return &s.Error }),
	"user":      stringField(func(s *Spec) *string { return &s.RunAs }),
	"schedule":  stringField(func(s *Spec) *string { return &s.Schedule }),
	"cores":     intField(func(s *Spec) *int { return &s.Cores }),
	"nice":      intField(func(s *Spec) *int { return &s.Nice }),
	"nodes": func(d *decoder, s *Spec, key string, v any) {
		if n, ok := d.integer([]string{key}, v); ok {
			if n < 1 {
				d.fail([]string{key}, "must be at least 1", nil)
				return
			}
			s.Nodes = n
		}
	},
	"command": func(d *decoder, s *Spec, key string, v any) {
		switch x := v.(type) {
		case string:
			s.Command = Command{Shell: true, Argv: []string{x}}
		case []any:
			if len(x) == 0 {
				d.fail([]string{key}, "must not be empty", nil)
				return
			}
			if argv, ok := d.strings([]string{key}, v); ok {
				s.Command = Command{Argv: argv}
			}
		default:
			d.wrongType([]string{key}, "a string or an array of strings", x)
		}
	},
	"arch": func(d *decoder, s *Spec, key string, v any) {
		if x, ok := d.str([]string{key}, v); ok {
			a, err := NormalizeArch(x)
			if err != nil {
				d.fail([]string{key}, err.Error(), err)
				return
			}
			s.Arch = a
		}
	},
	"features": func(d *decoder, s *Spec, key string, v any) {
		if x, ok := d.strings([]string{key}, v); ok {
			s.Features = x
		}
	},
	"memory": func(d *decoder, s *Spec, key string, v any) {
		path := []string{key}
		switch x := v.(type) {
		case int64:
			if x < 0 || x > math.MaxInt64/int64(MiB) {
				d.fail(path, fmt.Sprintf("%d MiB is out of range", x), ErrBadSize)
				return
			}
			s.Memory = Size(x) * MiB
		case string:
			z, err := ParseSize(x)
			if err != nil {
				d.fail(path, err.Error(), err)
				return
			}
			s.Memory = z
		default:
			d.wrongType(path, `an integer (MiB) or a size string like "4G"`, v)
		}
	},
	"time_limit": func(d *decoder, s *Spec, key string, v any) {
		if x, ok := d.duration([]string{key}, v); ok {
			s.TimeLimit = x
		}
	},
	"environment": func(d *decoder, s *Spec, key string, v any) {
		t, ok := v.(map[string]any)
		if !ok {
			d.wrongType([]string{key}, "a table of strings", v)
			return
		}
		env := make(map[string]string, len(t))
		for _, k := range d.byLine(t, []string{key}) {
			x, ok := d.str([]string{key, k}, t[k])
			if !ok {
				return
			}
			if !envRE.MatchString(k) {
				d.fail([]string{key, k}, fmt.Sprintf("%q is not a variable name", k), nil)
				return
			}
			env[k] = x
		}
		s.Environment = env
	},
	"array": func(d *decoder, s *Spec, key string, v any) {
		x, ok := d.str([]string{key}, v)
		if !ok {
			return
		}
		a, err := ParseArray(x)
		if err != nil {
			d.fail([]string{key}, err.Error(), err)
			return
		}
		s.Array = &a
	},
	"depends_on": func(d *decoder, s *Spec, key string, v any) {
		var items []string
		if x, ok := v.(string); ok {
			items = []string{x}
		} else if items, ok = d.strings([]string{key}, v); !ok {
			return
		}
		var deps []Dependency
		for i, it := range items {
			ds, err := ParseDependency(it)
			if err != nil {
				d.failed[key] = true
				line := d.ix.Line(key, fmt.Sprint(i))
				if line == 0 {
					line = d.ix.Line(key)
				}
				d.errs = append(d.errs, &Error{Line: line, Field: key, Msg: err.Error(), Cause: err})
				return
			}
			deps = append(deps, ds...)
		}
		s.DependsOn = deps
	},
	"hold": func(d *decoder, s *Spec, key string, v any) {
		b, ok := v.(bool)
		if !ok {
			d.wrongType([]string{key}, "a boolean", v)
			return
		}
		s.Hold = b
	},
	"reuse": func(d *decoder, s *Spec, key string, v any) {
		b, ok := v.(bool)
		if !ok {
			d.wrongType([]string{key}, "a boolean", v)
			return
		}
		s.NoReuse = !b
	},
	"begin": func(d *decoder, s *Spec, key string, v any) {
		t, err := beginTime(v)
		if err != nil {
			d.fail([]string{key}, err.Error(), err)
			return
		}
		s.Begin = t
	},
	"sim": func(d *decoder, s *Spec, key string, v any) {
		t, ok := v.(map[string]any)
		if !ok {
			d.wrongType([]string{key}, "a table", v)
			return
		}
		sim := &SimSpec{}
		for _, k := range d.byLine(t, []string{key}) {
			path := []string{key, k}
			switch k {
			case "runtime":
				if x, ok := d.duration(path, t[k]); ok {
					sim.Runtime = x
				}
			case "load":
				switch x := t[k].(type) {
				case float64:
					sim.Load = x
				case int64:
					sim.Load = float64(x)
				default:
					d.wrongType(path, "a number between 0 and 1", x)
				}
			case "exit_code":
				if x, ok := d.integer(path, t[k]); ok {
					sim.ExitCode = x
				}
			default:
				d.unknown(k, path, []string{"exit_code", "load", "runtime"})
			}
		}
		s.Sim = sim
	},
}

// beginTime accepts a TOML date-time (with offset, or local and then read in
// the submitting machine's time zone), a TOML date (midnight local) or an
// RFC 3339 string.
func beginTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case toml.LocalDateTime:
		return x.AsTime(time.Local), nil
	case toml.LocalDate:
		return x.AsTime(time.Local), nil
	case string:
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(x))
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a date-time like 2026-11-25T21:00:00Z", x)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("must be a date-time like 2026-11-25T21:00:00Z, not %s", tomlpos.TypeName(v))
}
