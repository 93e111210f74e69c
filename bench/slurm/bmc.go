package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/api"
)

// bmc is bmcctld on simulated machines, with its state under dir.
type bmc struct {
	dir, bin, sock string
	env            []string
	ctld           *daemon
}

// buildBMC compiles the commands the way the Makefile does, from the
// module this benchmark belongs to.
func buildBMC(ctx context.Context, bin string) error {
	gomod, err := output(ctx, nil, "go", "env", "GOMOD")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin+"/",
		"./cmd/bmcctld", "./cmd/bmcsubmit", "./cmd/bmcq")
	cmd.Dir = filepath.Dir(strings.TrimSpace(gomod))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}

// startBMC starts bmcctld --sim with every commit fsynced (the default).
func startBMC(ctx context.Context, dir, bin string, sim int) (*bmc, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b := &bmc{dir: dir, bin: bin, sock: filepath.Join(dir, "bmcctld.sock")}
	b.env = []string{"BMC_SOCKET=" + b.sock}
	var err error
	b.ctld, err = start(filepath.Join(bin, "bmcctld"), filepath.Join(dir, "bmcctld.out"), nil,
		"--state-dir", dir, "--sim", strconv.Itoa(sim), "--node-listen", "127.0.0.1:0", "--log-file", filepath.Join(dir, "bmcctld.log"))
	if err != nil {
		return nil, err
	}
	if err := b.ctld.waitFor(ctx, "its socket", 20*time.Second, func() bool {
		_, err := b.queued(ctx)
		return err == nil
	}); err != nil {
		b.ctld.stop()
		return nil, err
	}
	return b, nil
}

// queued is how many jobs the queue lists. It asks the HTTP API, which
// every version of bmcctld serves (-bin may name an older build).
func (b *bmc) queued(ctx context.Context) (int, error) {
	l, err := api.NewClient(b.sock).Jobs(ctx, api.JobFilter{})
	return len(l.Jobs), err
}
