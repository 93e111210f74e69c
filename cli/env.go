package cli

import (
	"io"
	"os"
	"time"

	"github.com/bmc-sched/bmc/api/wire"
)

// Env is what a command needs from its process: streams, the environment,
// and a clock. Tests fill it with buffers and fakes.
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

// DefaultEnv is the real process's Env, writing to stdout and stderr.
func DefaultEnv(stdout, stderr io.Writer) Env {
	cwd, _ := os.Getwd()
	tty := false
	if f, ok := stderr.(*os.File); ok {
		fi, err := f.Stat()
		tty = err == nil && fi.Mode()&os.ModeCharDevice != 0
	}
	return Env{Stdout: stdout, Stderr: stderr, Getenv: os.Getenv, Cwd: cwd, IsTerminal: tty, Now: time.Now}
}

// Socket is the daemon's socket: the --socket flag if given, else
// $BMC_SOCKET, else the default.
func (e Env) Socket(flag string) string {
	if flag != "" {
		return flag
	}
	if e.Getenv != nil {
		if s := e.Getenv("BMC_SOCKET"); s != "" {
			return s
		}
	}
	return wire.DefaultSocket
}
