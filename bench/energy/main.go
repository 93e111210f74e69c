// Command energy measures how close the bill comes to the virtual lab's
// ground truth, for each meter path and job length: it brings a one-node lab
// up per path (scripts/vlab), runs jobs of the given lengths one after
// another through bmcctld, records the node's ground-truth counter at the
// model's 50 Hz, and prints billed-versus-truth error (mean and worst) per
// (path, length) cell. The labs of -parallel paths run side by side (each
// its own QEMU: the truth follows each machine's own CPU use, so sharing the
// host does not bias it). It builds its binaries first, then takes the lab
// lock (-lock) for the measuring only:
//
//	go run ./bench/energy -lengths 10s,30s -jobs 3
//
// A table longer than one hold of the lab lock is made of several runs,
// each with its own -dir and -trace, then tabulated together with
// -retable DIR1,DIR2,...
//
// Paths:
//
//	ipmi-sdr         the "Sys Power" SDR sensor read over IPMI (ipmi_sim),
//	                 its readings dated by the sensor's window, period and lag
//	redfish-counter  a Redfish BMC with an EnergykWh counter (20 MWh lifetime);
//	                 the ledger bills its watts instead where the counter's
//	                 step is coarse for a phase, and the table says so
//	redfish-watts    a Redfish BMC without a counter: PowerConsumedWatts
//	rapl-inband      the agent's RAPL counter (emulated: vlab up --rapl) on a
//	                 node whose BMC reads no power, against the package's
//	                 own truth (RAPL counts the CPU package, not the machine)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "energy:", err)
		os.Exit(1)
	}
}

type config struct {
	paths    []path
	lengths  []time.Duration
	jobs     int
	jobsAt   map[time.Duration]int // lengths run with their own job count
	parallel int
	dir      string
	vlab     string
	portBase int
	out      string
	lock     string
	trace    string
	bin      string // the binaries built for the run
	// bootTimeout is bmcctld's: labs side by side on a loaded host boot in
	// 40-60 s, past the default 64 s now and then (BOOT_FAIL, no figure).
	bootTimeout time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("energy", flag.ContinueOnError)
	fl.SetOutput(stderr)
	paths := fl.String("paths", "ipmi-sdr,redfish-counter,redfish-watts,rapl-inband", "meter paths, comma-separated")
	lengths := fl.String("lengths", "10s,30s,60s,600s", "job lengths (the job's command runs this long); LENGTH:N runs N jobs of it instead of -jobs")
	jobs := fl.Int("jobs", 5, "jobs per (path, length) cell")
	dir := fl.String("dir", filepath.Join(os.TempDir(), "bmc-bench-energy"), "lab directories go under here")
	vlab := fl.String("vlab", "scripts/vlab", "the lab script")
	portBase := fl.Int("port-base", 29001, "first BMC port; node, SSH and metrics ports follow it")
	out := fl.String("out", "", "also write the table to this file")
	parallel := fl.Int("parallel", 2, "paths measured side by side, each on its own lab")
	lock := fl.String("lock", "/tmp/bmc-lab.lock", "lab lock taken (flock) for the measuring, after the build; empty: none")
	trace := fl.String("trace", "", "write each job's bill, power curve and truth as JSON into this directory")
	retable := fl.String("retable", "", "print the table of earlier runs from their -trace directories (comma-separated), without a lab")
	bootTimeout := fl.Duration("boot-timeout", 3*time.Minute, "bmcctld's --boot-timeout in the labs")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *retable != "" {
		rs, cfg, err := readTraces(strings.Split(*retable, ",")...)
		if err != nil {
			return err
		}
		cfg.out = *out
		return report(cfg, rs, 0, stdout)
	}
	cfg := config{jobs: *jobs, parallel: *parallel, dir: *dir, vlab: *vlab, portBase: *portBase, out: *out,
		lock: *lock, trace: *trace, bin: filepath.Join(*dir, "bin"), bootTimeout: *bootTimeout}
	var err error
	if cfg.paths, err = parsePaths(*paths); err != nil {
		return err
	}
	if cfg.lengths, cfg.jobsAt, err = parseLengths(*lengths); err != nil {
		return err
	}
	if cfg.jobs < 1 || cfg.jobs > 1000 {
		return fmt.Errorf("-jobs %d: want 1..1000", cfg.jobs)
	}
	if cfg.portBase < 1024 || cfg.portBase > 60000-100*len(allPaths) {
		return fmt.Errorf("-port-base %d: want 1024..%d", cfg.portBase, 60000-100*len(allPaths))
	}
	if cfg.bootTimeout < time.Minute || cfg.bootTimeout > time.Hour {
		return fmt.Errorf("-boot-timeout %s: want 1m..1h", cfg.bootTimeout)
	}
	if cfg.parallel < 1 || cfg.parallel > len(allPaths) {
		return fmt.Errorf("-parallel %d: want 1..%d", cfg.parallel, len(allPaths))
	}
	for _, d := range []string{cfg.dir, cfg.trace} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
	}
	if err := build(ctx, cfg.bin, stderr); err != nil {
		return err
	}
	if cfg.lock != "" {
		unlock, err := lockFile(ctx, cfg.lock, stderr)
		if err != nil {
			return err
		}
		defer unlock()
	}
	fmt.Fprintf(stderr, "energy: %d paths × %d lengths × %d jobs, %d paths at a time; expect about %s\n",
		len(cfg.paths), len(cfg.lengths), cfg.jobs, cfg.parallel, estimate(cfg).Round(time.Minute))
	start := time.Now()
	results, err := measureAll(ctx, cfg, stderr)
	return errors.Join(err, report(cfg, results, time.Since(start), stdout))
}

// measureAll measures the paths, cfg.parallel at a time.
func measureAll(ctx context.Context, cfg config, log io.Writer) ([]result, error) {
	var (
		mu      sync.Mutex
		results []result
		errs    []error
		wg      sync.WaitGroup
	)
	slots := make(chan struct{}, cfg.parallel)
	for i, p := range cfg.paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-slots }()
			rs, err := measurePath(ctx, cfg, p, cfg.portBase+100*i, log)
			mu.Lock()
			defer mu.Unlock()
			results = append(results, rs...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return results, errors.Join(append(errs, ctx.Err())...)
}

func report(cfg config, rs []result, took time.Duration, stdout io.Writer) error {
	var b strings.Builder
	writeTable(&b, cfg, summarize(rs, cfg), took)
	if _, err := io.WriteString(stdout, b.String()); err != nil {
		return err
	}
	if cfg.out != "" {
		return os.WriteFile(cfg.out, []byte(b.String()), 0o644)
	}
	return nil
}

// perJobOverhead is what a lab job costs beyond its command: boot (~15 s
// on TCG), power-off, scheduling, and the truth settling.
const perJobOverhead = 25 * time.Second

// estimate is how long a run takes: each path's jobs run one after another
// on its own lab, cfg.parallel labs at a time.
func estimate(cfg config) time.Duration {
	var perPath time.Duration
	for _, l := range cfg.lengths {
		perPath += time.Duration(cfg.jobsOf(l)) * (l + perJobOverhead)
	}
	rounds := (len(cfg.paths) + max(cfg.parallel, 1) - 1) / max(cfg.parallel, 1)
	return time.Duration(rounds) * perPath
}

// parseLengths reads "10s,30s,600s:2": the lengths, and the job counts of
// those given one (a long cell may not fit the lab's time with -jobs).
func parseLengths(s string) ([]time.Duration, map[time.Duration]int, error) {
	var out []time.Duration
	jobs := map[time.Duration]int{}
	for _, f := range strings.Split(s, ",") {
		ls, ns, counted := strings.Cut(strings.TrimSpace(f), ":")
		d, err := time.ParseDuration(ls)
		if err != nil || d < 2*time.Second || d > 24*time.Hour {
			return nil, nil, fmt.Errorf("-lengths: %q is not a job length in 2s..24h", f)
		}
		if counted {
			n, err := strconv.Atoi(ns)
			if err != nil || n < 1 || n > 1000 {
				return nil, nil, fmt.Errorf("-lengths: %q: the job count after ':' must be 1..1000", f)
			}
			jobs[d] = n
		}
		out = append(out, d)
	}
	return out, jobs, nil
}

// jobsOf is how many jobs of length l a cell runs.
func (c config) jobsOf(l time.Duration) int {
	if n, ok := c.jobsAt[l]; ok {
		return n
	}
	return c.jobs
}
