package main

// One bmcctld under test: started on its own state dir, stopped, and the
// commands run against it.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// daemon is one bmcctld process.
type daemon struct {
	cmd    *exec.Cmd
	sock   string
	bin    string
	exited chan error
}

func (b *bench) startDaemon(ctx context.Context, dir, name string) (*daemon, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &daemon{sock: filepath.Join(dir, "bmcctld.sock"), bin: b.bin, exited: make(chan error, 1)}
	args := []string{"--state-dir", dir, "--sim", strconv.Itoa(b.cfg.sim),
		"--node-listen", "127.0.0.1:0", "--log-file", filepath.Join(dir, "bmcctld.log")}
	if b.cfg.profiles != "" {
		args = append(args, "--cpuprofile", filepath.Join(b.cfg.profiles, name+".cpu.pprof"),
			"--memprofile", filepath.Join(b.cfg.profiles, name+".heap.pprof"))
	}
	d.cmd = exec.Command(filepath.Join(b.bin, "bmcctld"), args...)
	d.cmd.Stderr = os.Stderr
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.exited <- d.cmd.Wait() }()
	c := api.NewClient(d.sock)
	for t0 := time.Now(); ; {
		if _, err := c.Whoami(ctx); err == nil {
			return d, nil
		}
		select {
		case err := <-d.exited:
			return nil, fmt.Errorf("bmcctld exited at start: %v (log in %s)", err, dir)
		case <-ctx.Done():
			d.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(t0) > 20*time.Second {
			d.stop()
			return nil, fmt.Errorf("bmcctld did not answer in 20s (log in %s)", dir)
		}
	}
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
}

func (d *daemon) command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(d.bin, name), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BMC_SOCKET="+d.sock)
	return cmd
}

// waitScheduled waits until n jobs are queued and a scheduling pass has
// started some of them, and returns how many are still PENDING.
func (d *daemon) waitScheduled(ctx context.Context, n int) (int, error) {
	c := api.NewClient(d.sock)
	for t0 := time.Now(); time.Since(t0) < 30*time.Second; {
		l, err := c.Jobs(ctx, api.JobFilter{})
		if err != nil {
			return 0, err
		}
		pending := 0
		for _, j := range l.Jobs {
			if j.State == job.Pending {
				pending++
			}
		}
		if len(l.Jobs) == n && pending < n {
			return pending, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return 0, errors.New("no scheduling pass started any job within 30s")
}
