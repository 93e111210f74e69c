// Command energy measures how close the bill comes to the virtual lab's
// ground truth, for each meter path and job length: it brings a one-node lab
// up per path (scripts/vlab), runs jobs of the given lengths one after
// another through bmcctld, records the node's ground-truth counter at the
// model's 50 Hz, and prints billed-versus-truth error (mean and worst) per
// (path, length) cell. Run it under the lab lock:
//
//	flock /tmp/bmc-lab.lock go run ./bench/energy -lengths 10s,30s -jobs 3
//
// Paths:
//
//	ipmi-sdr         the "Sys Power" SDR sensor read over IPMI (ipmi_sim)
//	redfish-counter  a Redfish BMC with an EnergykWh counter (20 MWh lifetime);
//	                 the ledger bills its watts instead where the counter's
//	                 step is coarse for a phase, and the table says so
//	redfish-watts    a Redfish BMC without a counter: PowerConsumedWatts
//	rapl-inband      not measurable: a TCG guest has no powercap (see docs/vlab.md)
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
	"strings"
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
	dir      string
	vlab     string
	portBase int
	out      string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("energy", flag.ContinueOnError)
	fl.SetOutput(stderr)
	paths := fl.String("paths", "ipmi-sdr,redfish-counter,redfish-watts,rapl-inband", "meter paths, comma-separated")
	lengths := fl.String("lengths", "10s,30s,60s,600s", "job lengths (the job's command runs this long)")
	jobs := fl.Int("jobs", 5, "jobs per (path, length) cell")
	dir := fl.String("dir", filepath.Join(os.TempDir(), "bmc-bench-energy"), "lab directories go under here")
	vlab := fl.String("vlab", "scripts/vlab", "the lab script")
	portBase := fl.Int("port-base", 29001, "first BMC port; node, SSH and metrics ports follow it")
	out := fl.String("out", "", "also write the table to this file")
	if err := fl.Parse(args); err != nil {
		return err
	}
	cfg := config{jobs: *jobs, dir: *dir, vlab: *vlab, portBase: *portBase, out: *out}
	var err error
	if cfg.paths, err = parsePaths(*paths); err != nil {
		return err
	}
	if cfg.lengths, err = parseLengths(*lengths); err != nil {
		return err
	}
	if cfg.jobs < 1 || cfg.jobs > 1000 {
		return fmt.Errorf("-jobs %d: want 1..1000", cfg.jobs)
	}
	if cfg.portBase < 1024 || cfg.portBase > 60000 {
		return fmt.Errorf("-port-base %d: want 1024..60000", cfg.portBase)
	}
	fmt.Fprintf(stderr, "energy: %d paths × %d lengths × %d jobs; expect about %s\n",
		len(cfg.paths), len(cfg.lengths), cfg.jobs, estimate(cfg).Round(time.Minute))
	start := time.Now()
	var results []result
	for _, p := range cfg.paths {
		rs, err := measurePath(ctx, cfg, p, stderr)
		results = append(results, rs...)
		if err != nil {
			return errors.Join(err, report(cfg, results, time.Since(start), stdout))
		}
	}
	return report(cfg, results, time.Since(start), stdout)
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

// estimate is how long a run takes: every job runs alone on its path's lab.
func estimate(cfg config) time.Duration {
	var d time.Duration
	for _, p := range cfg.paths {
		if !p.measurable() {
			continue
		}
		for _, l := range cfg.lengths {
			d += time.Duration(cfg.jobs) * (l + perJobOverhead)
		}
	}
	return d
}

func parseLengths(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d < 2*time.Second || d > 24*time.Hour {
			return nil, fmt.Errorf("-lengths: %q is not a job length in 2s..24h", f)
		}
		out = append(out, d)
	}
	return out, nil
}
