package bmcsubmit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/cli"
)

func submit(ctx context.Context, env cli.Env, f *flags, file string) error {
	data, err := readJobFile(env.Cwd, file)
	if err != nil {
		return err
	}
	c := wire.NewClient(env.Socket(f.socket))
	resp, err := c.Submit(ctx, wire.Submit{File: file, Cwd: env.Cwd, Overrides: f.o, Greenest: f.greenest, Deadline: f.deadline}, data)
	var se *wire.StatusError
	if errors.As(err, &se) && se.Line {
		return cli.LineError{Err: err}
	}
	if err != nil {
		return err
	}
	id := resp.IDs[0]
	if resp.ArrayJobID != 0 {
		id = resp.ArrayJobID
	}
	for _, w := range resp.Warnings {
		fmt.Fprintln(env.Stderr, "bmcsubmit: warning: "+w)
	}
	if f.parsable {
		fmt.Fprintln(env.Stdout, id)
		if resp.Note != "" {
			fmt.Fprintln(env.Stderr, "bmcsubmit: job "+strconv.FormatUint(id, 10)+" "+resp.Note)
		}
	} else {
		fmt.Fprintln(env.Stdout, "Submitted job "+strconv.FormatUint(id, 10))
		if resp.Note != "" {
			fmt.Fprintln(env.Stdout, "Job "+strconv.FormatUint(id, 10)+" "+resp.Note)
		}
	}
	if !f.wait {
		return nil
	}
	// Following a job may take hours: an interrupt ends it cleanly, and the
	// daemon sees the connection close. (main installs no handler, to keep
	// a plain submit's start-up small.)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return waitAll(ctx, env, c, resp.IDs)
}

// readJobFile reads the file the user named (relative to cwd), refusing
// what could not be a job file before sending it.
func readJobFile(cwd, file string) ([]byte, error) {
	path := file
	if !filepath.IsAbs(path) && cwd != "" {
		path = filepath.Join(cwd, path)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, errors.Unwrap(err))
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, wire.MaxFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(data) > wire.MaxFile {
		return nil, fmt.Errorf("%s: larger than %d bytes; a job file is a few KiB", file, wire.MaxFile)
	}
	return data, nil
}
