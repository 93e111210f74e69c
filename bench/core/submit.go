package main

// The submit phase: held jobs from shell loops of bmcsubmit processes and
// from concurrent API clients.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/bench/proc"
	"github.com/bmc-sched/bmc/job"
)

// heldJob is queued held, so the submit measurements time submits only.
const heldJob = `name = "bench"
image = "busybox:1.36"
command = "true"
time_limit = "10:00"
hold = true
`

func (b *bench) submitPhase(ctx context.Context) error {
	dir := filepath.Join(b.tmp, "submit")
	d, err := b.startDaemon(ctx, dir, "submit")
	if err != nil {
		return err
	}
	defer d.stop()
	if err := os.WriteFile(filepath.Join(dir, "job.toml"), []byte(heldJob), 0o644); err != nil {
		return err
	}
	if b.cfg.seqN > 0 {
		if err := b.seqPhase(ctx, d, dir); err != nil {
			return err
		}
	}
	if b.cfg.apiTime <= 0 {
		return nil
	}
	one, err := b.apiSubmits(ctx, d, 1, 2*time.Second)
	if err != nil {
		return err
	}
	b.add(row{"API submit, 1 client", "", fmt.Sprintf("%.0f jobs/s", one.rate), "",
		fmt.Sprintf("latency p50 %.2f ms, p99 %.2f ms", one.p50, one.p99)})
	cpu0, self0 := proc.CPU(d.cmd.Process.Pid), proc.CPU(os.Getpid())
	many, err := b.apiSubmits(ctx, d, b.cfg.clients, b.cfg.apiTime)
	if err != nil {
		return err
	}
	cpu, self := proc.CPU(d.cmd.Process.Pid)-cpu0, proc.CPU(os.Getpid())-self0
	b.add(row{fmt.Sprintf("API submit, %d clients", b.cfg.clients), "≥ 20,000 jobs/s", fmt.Sprintf("%.0f jobs/s", many.rate),
		verdict(many.rate >= 20000), fmt.Sprintf("%d durable submits in %s; p50 %.2f ms, p99 %.2f ms; CPU per submit: bmcctld %.0f µs (%.0f %% of a core), clients %.0f µs; CPU-bound ceiling with all %d CPUs free: %.0f/s",
			many.n, b.cfg.apiTime, many.p50, many.p99, cpu.Seconds()*1e6/float64(many.n), 100*cpu.Seconds()/b.cfg.apiTime.Seconds(),
			self.Seconds()*1e6/float64(many.n), runtime.NumCPU(), float64(runtime.NumCPU())*float64(many.n)/(cpu+self).Seconds())})
	return nil
}

// seqPhase times bmcsubmit processes started by bash loops.
func (b *bench) seqPhase(ctx context.Context, d *daemon, dir string) error {
	// A few submits first so page cache, daemon goroutines and the state
	// file's first pages are warm, as they are on a live system.
	if _, err := b.shellLoops(ctx, d, dir, 1, 20); err != nil {
		return err
	}
	n := b.cfg.seqN
	cpu0 := proc.CPU(d.cmd.Process.Pid)
	el, err := b.shellLoops(ctx, d, dir, 1, n)
	if err != nil {
		return err
	}
	cpu := proc.CPU(d.cmd.Process.Pid) - cpu0
	rate := float64(n) / el.Seconds()
	b.add(row{"bmcsubmit --parsable, 1 shell loop", "≥ 300 jobs/s", fmt.Sprintf("%.0f jobs/s (%.2f ms each)", rate, ms(el)/float64(n)),
		verdict(rate >= 300), fmt.Sprintf("%d sequential processes; bmcctld CPU %.0f µs/submit; Slurm side by side: go run ./bench/slurm", n, cpu.Seconds()*1e6/float64(n))})
	// The floor: the same loop running a command that starts the same
	// binary and exits at once.
	help, err := b.helpLoop(ctx, dir, n/4)
	if err != nil {
		return err
	}
	b.add(row{"  same loop, bmcsubmit --help", "", fmt.Sprintf("%.2f ms each", ms(help)/float64(n/4)), "",
		"process start-up alone (no file, no daemon)"})
	el, err = b.shellLoops(ctx, d, dir, 2, n/2)
	if err != nil {
		return err
	}
	rate = float64(n/2*2) / el.Seconds()
	b.add(row{"bmcsubmit --parsable, 2 shell loops", "(Slurm: 251/s)", fmt.Sprintf("%.0f jobs/s", rate), "",
		fmt.Sprintf("2 × %d, wall time of both", n/2)})
	return nil
}

// shellLoops runs `loops` bash for-loops at once, each submitting n jobs
// with one bmcsubmit process per job, and returns the wall time of all.
func (b *bench) shellLoops(ctx context.Context, d *daemon, dir string, loops, n int) (time.Duration, error) {
	return proc.ShellLoops(ctx, dir, []string{"BMC_SOCKET=" + d.sock}, loops, n, filepath.Join(b.bin, "bmcsubmit"), "--parsable", "job.toml")
}

// helpLoop times a bash loop of `bmcsubmit --help`.
func (b *bench) helpLoop(ctx context.Context, dir string, n int) (time.Duration, error) {
	return proc.ShellLoops(ctx, dir, nil, 1, n, filepath.Join(b.bin, "bmcsubmit"), "--help")
}

type apiResult struct {
	n        int
	rate     float64
	p50, p99 float64 // ms
}

// apiSubmits runs `clients` goroutines, each with its own api.Client (its
// own connection), submitting held jobs back to back for dur.
func (b *bench) apiSubmits(ctx context.Context, d *daemon, clients int, dur time.Duration) (apiResult, error) {
	spec, err := job.Parse("job.toml", []byte(heldJob))
	if err != nil {
		return apiResult{}, err
	}
	req := api.SubmitRequest{Spec: *spec, Cwd: b.tmp, File: "job.toml"}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([][]time.Duration, clients)
	errc := make(chan error, clients)
	var wg, ready sync.WaitGroup
	var deadline time.Time
	begin := make(chan struct{})
	for i := range clients {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			c := api.NewClient(d.sock)
			// One warm-up submit opens the connection outside the timing.
			_, err := c.Submit(ctx, req)
			ready.Done()
			if err != nil {
				errc <- err
				return
			}
			<-begin
			for {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				resp, err := c.Submit(ctx, req)
				if err != nil {
					errc <- err
					return
				}
				if len(resp.IDs) != 1 {
					errc <- fmt.Errorf("submit answered %d ids", len(resp.IDs))
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	// Start everyone together once all are connected.
	ready.Wait()
	t0 := time.Now()
	deadline = t0.Add(dur)
	close(begin)
	wg.Wait()
	el := time.Since(t0)
	close(errc)
	if err := <-errc; err != nil {
		return apiResult{}, fmt.Errorf("api submit: %w", err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return apiResult{}, errors.New("api submit: nothing submitted")
	}
	slices.Sort(all)
	return apiResult{
		n: len(all), rate: float64(len(all)) / el.Seconds(),
		p50: ms(all[len(all)/2]), p99: ms(all[len(all)*99/100]),
	}, nil
}
