package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// build puts the binaries the labs run into bin before the lab lock is
// taken: static, as scripts/vlab builds them (bmcinit runs as PID 1 in an
// initrd without libc; bmcctld finds it next to itself).
func build(ctx context.Context, bin string, log io.Writer) error {
	fmt.Fprintf(log, "energy: building into %s\n", bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin+"/",
		"./cmd/bmcctld", "./cmd/bmcinit", "./cmd/bmcsubmit", "./cmd/vlab-meter", "./cmd/vlab-redfish")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build (run from the repository root): %w\n%s", err, out)
	}
	return nil
}

// lockFile takes an exclusive flock on path, waiting for whoever holds it,
// and returns its release.
func lockFile(ctx context.Context, path string, log io.Writer) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("-lock: %w", err)
	}
	for waited := false; ; waited = true {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("-lock %s: %w", path, err)
		}
		if !waited {
			fmt.Fprintf(log, "energy: waiting for the lab lock %s (do not run this under flock of the same file)\n", path)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return func() { f.Close() }, nil
}
