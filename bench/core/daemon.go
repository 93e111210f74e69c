package main

// One bmcctld under test: started on its own state dir, stopped, and the
// commands run against it.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// daemon is one bmcctld process.
type daemon struct {
	cmd     *exec.Cmd
	sock    string
	bin     string
	metrics string // the /metrics URL, on loopback
	exited  chan error
}

func (b *bench) startDaemon(ctx context.Context, dir, name string) (*daemon, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &daemon{sock: filepath.Join(dir, "bmcctld.sock"), bin: b.bin, exited: make(chan error, 1)}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d.metrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	args := []string{"--state-dir", dir, "--sim", strconv.Itoa(b.cfg.sim),
		"--node-listen", "127.0.0.1:0", "--log-file", filepath.Join(dir, "bmcctld.log"),
		"--metrics-listen", fmt.Sprintf("127.0.0.1:%d", port),
		// One user submits everything here: the API phase alone queues
		// more than the default 10,000 per user (issue 10's limit).
		"--max-submit-jobs", "0"}
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

// freePort returns a loopback port that was free a moment ago (bmcctld's
// --metrics-listen does not say which port :0 got).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// passTotals reads the scheduling passes' count and summed seconds from
// the daemon's /metrics (bmc_scheduler_pass_seconds, a histogram).
func (d *daemon) passTotals(ctx context.Context) (n float64, sum float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.metrics, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		var dst *float64
		switch f[0] {
		case "bmc_scheduler_pass_seconds_count":
			dst = &n
		case "bmc_scheduler_pass_seconds_sum":
			dst = &sum
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(f[1], 64); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", f[0], err)
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("%s has no bmc_scheduler_pass_seconds", d.metrics)
	}
	return n, sum, nil
}
