package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/api"
)

// Env is what a command needs from its process: streams and a way to reach
// the daemon. Tests fill it with buffers and a client on a test socket.
type Env struct {
	Stdout, Stderr io.Writer
	// Getenv reads the environment (BMC_SOCKET).
	Getenv func(string) string
	// Cwd is the submitter's directory.
	Cwd string
	// IsTerminal reports whether Stderr is a terminal (live progress).
	IsTerminal bool
	// Now is used for relative times in output.
	Now func() time.Time
}

// ExitError carries an exit status other than 1 (bmcsubmit --wait).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// Main runs cmd and turns its error into an exit status and one stderr line.
func Main(ctx context.Context, cmd *cobra.Command, args []string, env Env, prog string) int {
	cmd.SetArgs(args)
	cmd.SetOut(env.Stdout)
	cmd.SetErr(env.Stderr)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Msg != "" {
			fmt.Fprintln(env.Stderr, ee.Msg)
		}
		return ee.Code
	}
	msg := err.Error()
	var fe fileError
	if errors.As(err, &fe) {
		// A job file error already names file, line and field.
		fmt.Fprintln(env.Stderr, firstLine(msg))
		return 1
	}
	fmt.Fprintf(env.Stderr, "%s: %s\n", prog, firstLine(msg))
	return 1
}

// fileError marks errors whose text starts with file:line.
type fileError struct{ error }

func (e fileError) Unwrap() error { return e.error }

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// DefaultEnv is the real process's Env.
func DefaultEnv() Env {
	cwd, _ := os.Getwd()
	fi, err := os.Stderr.Stat()
	tty := err == nil && fi.Mode()&os.ModeCharDevice != 0
	return Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Cwd: cwd, IsTerminal: tty, Now: time.Now}
}

func client(env Env, socketFlag string) *api.Client {
	s := socketFlag
	if s == "" {
		s = env.Getenv("BMC_SOCKET")
	}
	if s == "" {
		s = api.DefaultSocket
	}
	return api.NewClient(s)
}

// fmtDuration prints a span the way squeue does: M:SS, H:MM:SS, D-HH:MM:SS.
func fmtDuration(sec float64) string {
	if sec < 0 {
		sec = 0
	}
	s := int64(sec)
	d, s := s/86400, s%86400
	h, s := s/3600, s%3600
	m, s := s/60, s%60
	switch {
	case d > 0:
		return fmt.Sprintf("%d-%02d:%02d:%02d", d, h, m, s)
	case h > 0:
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}
