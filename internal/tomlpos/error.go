package tomlpos

import "strings"

// Error is one problem in a TOML file, printed on one line as
// "job.toml:7: time_limit: "2x" is not a duration". File, Line and Field are
// left out of the text when unknown. The job and nodes files share it.
type Error struct {
	File  string
	Line  int
	Field string // the key, dotted inside tables ("sim.load", "bmc.port")
	Msg   string
	Cause error // for errors.Is (job.ErrBadDuration, ...); may be nil
}

func (e *Error) Error() string { return Format(e.File, e.Line, e.Field, e.Msg) }

// Unwrap returns the cause, when there is one.
func (e *Error) Unwrap() error { return e.Cause }

// ErrorList is several problems, sorted by line. Its text is one line per
// problem; errors.As(err, &*Error) finds the first, which is what a CLI
// should print when it has room for one.
type ErrorList []*Error

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each problem to errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// ErrorOf returns nil, the single *Error, or the ErrorList.
func ErrorOf(errs []*Error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return ErrorList(errs)
}
