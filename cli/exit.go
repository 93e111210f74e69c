package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// ExitError carries an exit status other than 1 (bmcsubmit --wait), with
// the message to print, if any.
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// LineError is an error whose message already says where the problem is
// (file:line: field: …), so it is printed without the program's name.
type LineError struct{ Err error }

func (e LineError) Error() string { return e.Err.Error() }
func (e LineError) Unwrap() error { return e.Err }

// Exit turns what a command returned into an exit status, printing the error as
// one line on stderr ("prog: message", or the message alone when it names
// its file and line).
func Exit(stderr io.Writer, prog string, err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Msg != "" {
			fmt.Fprintln(stderr, ee.Msg)
		}
		return ee.Code
	}
	// The daemon's errors can quote what a job or a node sent.
	msg := Printable(firstLine(err.Error()))
	var le LineError
	if errors.As(err, &le) {
		fmt.Fprintln(stderr, msg)
		return 1
	}
	fmt.Fprintf(stderr, "%s: %s\n", prog, msg)
	return 1
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
