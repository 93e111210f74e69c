// Command core measures the submit, query and memory targets of issue 2
// against the real binaries: it builds bmcctld, bmcsubmit and bmcq, runs
// the daemon on a temporary state dir (Unix socket only, node listener on
// 127.0.0.1), drives it the way users do, stops it and prints one table.
//
//	go run ./bench/core -out bench/results-core.txt
//
// Two daemons are used, each on fresh state, so one measurement does not
// inherit another's queue: the first takes held jobs from a shell loop and
// from concurrent API clients; the second takes one large array whose tasks
// stay pending behind long simulated jobs, and is then queried, weighed, and
// its scheduling passes over that queue timed.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/bmc-sched/bmc/bench/proc"
)

type config struct {
	out      string
	seqN     int
	apiTime  time.Duration
	clients  int
	arrayN   int
	qRuns    int
	sim      int
	profiles string
	keep     bool
	passTime time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.out, "out", "", "also write the report to this file")
	flag.IntVar(&cfg.seqN, "seq", 1000, "submits in the sequential shell loop, and again split over two loops (0 skips them)")
	flag.DurationVar(&cfg.apiTime, "api-time", 10*time.Second, "how long the concurrent API clients submit (0 skips the API measurements)")
	flag.IntVar(&cfg.clients, "clients", 16, "concurrent API clients")
	flag.IntVar(&cfg.arrayN, "array", 10000, "tasks in the array job (also the pending queue for bmcq and RSS)")
	flag.IntVar(&cfg.qRuns, "q-runs", 30, "timed runs of bmcq --json")
	flag.IntVar(&cfg.sim, "sim", 8, "simulated machines (bmcctld --sim)")
	flag.StringVar(&cfg.profiles, "profile-dir", "", "write bmcctld CPU and heap profiles here")
	flag.DurationVar(&cfg.passTime, "pass-time", 10*time.Second, "how long scheduling passes over the pending array are timed (0 skips it)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (state, logs)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench/core:", err)
		os.Exit(1)
	}
}

// row is one line of the result table.
type row struct {
	what, target, measured, verdict, note string
}

type bench struct {
	cfg  config
	tmp  string
	bin  string
	rows []row
}

func run(ctx context.Context, cfg config) error {
	tmp, err := os.MkdirTemp("", "bmc-bench-core")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Fprintln(os.Stderr, "keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	b := &bench{cfg: cfg, tmp: tmp, bin: filepath.Join(tmp, "bin")}
	if cfg.profiles != "" {
		if err := os.MkdirAll(cfg.profiles, 0o755); err != nil {
			return err
		}
	}
	start := time.Now().UTC()
	load0 := proc.Loadavg()
	if err := b.build(ctx); err != nil {
		return err
	}
	if err := b.submitPhase(ctx); err != nil {
		return err
	}
	if err := b.queuePhase(ctx); err != nil {
		return err
	}
	report := b.report(start, load0, proc.Loadavg(), time.Since(start))
	fmt.Print(report)
	if cfg.out != "" {
		return os.WriteFile(cfg.out, []byte(report), 0o644)
	}
	return nil
}

// build compiles the three binaries from the module this command belongs to.
func (b *bench) build(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", b.bin+"/", "./cmd/bmcctld", "./cmd/bmcsubmit", "./cmd/bmcq")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}

func (b *bench) add(r row) {
	b.rows = append(b.rows, r)
	fmt.Fprintf(os.Stderr, "%-40s %s\n", r.what, r.measured)
}

func (b *bench) report(start time.Time, load0, load1 string, took time.Duration) string {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "bench/core  %s  %s  %s/%s  %d CPUs (%s)\n", start.Format("2006-01-02 15:04 UTC"),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), proc.CPUModel())
	fmt.Fprintf(&buf, "load average before: %s  after: %s  run took %s\n", load0, load1, took.Round(time.Second))
	fmt.Fprintf(&buf, "bmcctld --sim %d, fresh state dir per phase, fsync on every commit (NoSync off)\n\n", b.cfg.sim)
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\ttarget\tmeasured\t\tnotes")
	for _, r := range b.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.what, r.target, r.measured, r.verdict, r.note)
	}
	tw.Flush()
	return buf.String()
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISS"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
