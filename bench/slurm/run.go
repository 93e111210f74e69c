package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bmc-sched/bmc/bench/proc"
)

const heldJob = `name = "bench"
image = "busybox:1.36"
command = "true"
time_limit = "10:00"
hold = true
`

const slurmJob = "#!/bin/sh\ntrue\n"

type bench struct {
	cfg   config
	tmp   string
	b     *bmc
	s     *slurm
	rows  [][5]string // what, bmc, slurm, ratio, note
	notes []string
}

func run(ctx context.Context, cfg config) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: Slurm's daemons run as root here")
	}
	tmp, err := os.MkdirTemp("", "bmc-bench-slurm")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Fprintln(os.Stderr, "keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bench := &bench{cfg: cfg, tmp: tmp}
	start, load0 := time.Now().UTC(), proc.Loadavg()
	bin := cfg.bin
	if bin == "" {
		bin = filepath.Join(tmp, "bin")
		if err := buildBMC(ctx, bin); err != nil {
			return err
		}
	}
	work := filepath.Join(tmp, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "job.toml"), []byte(heldJob), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "job.sh"), []byte(slurmJob), 0o755); err != nil {
		return err
	}
	if bench.s, err = startSlurm(ctx, filepath.Join(tmp, "slurm"), cfg.slurmPort); err != nil {
		return err
	}
	defer bench.s.stop()
	if bench.b, err = startBMC(ctx, filepath.Join(tmp, "bmc"), bin, cfg.sim); err != nil {
		return err
	}
	defer bench.b.ctld.stop()
	if err := bench.measure(ctx, work); err != nil {
		return err
	}
	report := bench.report(start, load0, proc.Loadavg(), time.Since(start))
	fmt.Print(report)
	if cfg.out != "" {
		return os.WriteFile(cfg.out, []byte(report), 0o644)
	}
	return nil
}

func (b *bench) measure(ctx context.Context, work string) error {
	// Let both daemons finish starting before weighing them.
	time.Sleep(3 * time.Second)
	if err := b.rss("empty"); err != nil {
		return err
	}
	bmcSubmit := []string{filepath.Join(b.b.bin, "bmcsubmit"), "--parsable", "job.toml"}
	sbatch := []string{"sbatch", "--parsable", "--hold", "job.sh"}
	// A few submits first, so page cache and daemon threads are warm.
	if err := b.warm(ctx, work, bmcSubmit, sbatch); err != nil {
		return err
	}
	if err := b.startup(ctx, work); err != nil {
		return err
	}
	if err := b.submitRounds(ctx, work, "empty queue", bmcSubmit, sbatch); err != nil {
		return err
	}
	if err := b.fill(ctx, work, b.cfg.held); err != nil {
		return err
	}
	if err := b.submitRounds(ctx, work, fmt.Sprintf("%d held", b.cfg.held), bmcSubmit, sbatch); err != nil {
		return err
	}
	if err := b.fill(ctx, work, b.cfg.queue); err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	if err := b.rss(fmt.Sprintf("%d held", b.cfg.queue)); err != nil {
		return err
	}
	if err := b.listing(ctx, work); err != nil {
		return err
	}
	// Again at once, before a quiet second lets bmcctld return the
	// listings' garbage (internal/memlimit).
	return b.rss(fmt.Sprintf("%d held, right after the listings", b.cfg.queue))
}

func (b *bench) warm(ctx context.Context, work string, bmcSubmit, sbatch []string) error {
	if _, err := proc.ShellLoops(ctx, work, b.b.env, 1, 20, bmcSubmit...); err != nil {
		return err
	}
	_, err := proc.ShellLoops(ctx, work, b.s.env, 1, 20, sbatch...)
	return err
}

// startup times the same loop with --version (or -startup-arg): the
// process start-up floor.
func (b *bench) startup(ctx context.Context, work string) error {
	var bm, sl []float64
	for range b.cfg.rounds {
		el, err := proc.ShellLoops(ctx, work, b.b.env, 1, b.cfg.loop, filepath.Join(b.b.bin, "bmcsubmit"), b.cfg.startup)
		if err != nil {
			return err
		}
		bm = append(bm, ms(el)/float64(b.cfg.loop))
		if el, err = proc.ShellLoops(ctx, work, b.s.env, 1, b.cfg.loop, "sbatch", b.cfg.startup); err != nil {
			return err
		}
		sl = append(sl, ms(el)/float64(b.cfg.loop))
	}
	b.add("start-up: `"+b.cfg.startup+"` in a shell loop, ms per process", summary(bm).String(), summary(sl).String(), ratios(sl, bm),
		fmt.Sprintf("%d rounds × %d, bmcsubmit vs sbatch", b.cfg.rounds, b.cfg.loop))
	return nil
}

// submitRounds times interleaved shell loops of held submits and the
// daemons' CPU time during them.
func (b *bench) submitRounds(ctx context.Context, work, at string, bmcSubmit, sbatch []string) error {
	var bRate, sRate []float64
	var bCPU, sCPU, mCPU time.Duration
	n := b.cfg.loop
	for range b.cfg.rounds {
		c0 := cpuOf(b.b.ctld)
		el, err := proc.ShellLoops(ctx, work, b.b.env, 1, n, bmcSubmit...)
		if err != nil {
			return err
		}
		bCPU += cpuOf(b.b.ctld) - c0
		bRate = append(bRate, float64(n)/el.Seconds())

		c0, m0 := cpuOf(b.s.slurmctld), cpuOf(b.s.munged)
		if el, err = proc.ShellLoops(ctx, work, b.s.env, 1, n, sbatch...); err != nil {
			return err
		}
		sCPU += cpuOf(b.s.slurmctld) - c0
		mCPU += cpuOf(b.s.munged) - m0
		sRate = append(sRate, float64(n)/el.Seconds())
	}
	b.add("submit loop, jobs/s, "+at, summary(bRate).String(), summary(sRate).String(), ratios(bRate, sRate),
		fmt.Sprintf("%d rounds × %d held jobs, bmcsubmit vs sbatch; target ≥ 1.6×", b.cfg.rounds, n))
	total := float64(b.cfg.rounds * n)
	perB, perS, perM := ms(bCPU)/total, ms(sCPU)/total, ms(mCPU)/total
	b.add("daemon CPU per submit, ms, "+at, fmt.Sprintf("%.2f", perB), fmt.Sprintf("%.2f (+ munged %.2f)", perS, perM), one(perS/perB),
		"bmcctld vs slurmctld, utime+stime over the loops above (10 ms ticks)")
	return nil
}

// fill queues held jobs until each system holds want: bmc as one array
// (each task is a job record), Slurm as separate jobs from two loops
// (a Slurm array's pending tasks would be one record).
func (b *bench) fill(ctx context.Context, work string, want int) error {
	have, err := b.b.queued(ctx)
	if err != nil {
		return err
	}
	if more := want - have; more > 0 {
		if _, err := proc.ShellLoops(ctx, work, b.b.env, 1, 1, filepath.Join(b.b.bin, "bmcsubmit"), "--array", fmt.Sprintf("1-%d", more), "job.toml"); err != nil {
			return err
		}
	}
	if have, err = b.s.queued(ctx); err != nil {
		return err
	}
	if more := want - have; more > 0 {
		if _, err := proc.ShellLoops(ctx, work, b.s.env, 2, (more+1)/2, "sbatch", "--parsable", "--hold", "job.sh"); err != nil {
			return err
		}
	}
	bq, err := b.b.queued(ctx)
	if err != nil {
		return err
	}
	sq, err := b.s.queued(ctx)
	if err != nil {
		return err
	}
	b.notes = append(b.notes, fmt.Sprintf("queue filled to %d: bmc %d, Slurm %d jobs", want, bq, sq))
	return nil
}

func (b *bench) rss(at string) error {
	x, err := rssOf(b.b.ctld)
	if err != nil {
		return err
	}
	y, err := rssOf(b.s.slurmctld)
	if err != nil {
		return err
	}
	b.add("daemon VmRSS, MB, "+at, fmt.Sprintf("%.1f", x.total), fmt.Sprintf("%.1f", y.total), one(y.total/x.total),
		fmt.Sprintf("bmcctld vs slurmctld; anon + file: %.1f + %.1f vs %.1f + %.1f; bmcctld target ≤ 40 MB at 10,000", x.anon, x.file, y.anon, y.file))
	return nil
}

// listing times the plain queue table, bmcq against squeue, alternately.
func (b *bench) listing(ctx context.Context, work string) error {
	bmcq := []string{filepath.Join(b.b.bin, "bmcq")}
	bmcqJSON := []string{filepath.Join(b.b.bin, "bmcq"), "--json"}
	squeue := []string{"squeue"}
	for _, c := range []struct {
		env  []string
		argv []string
	}{{b.b.env, bmcq}, {b.s.env, squeue}} {
		out, err := output(ctx, c.env, c.argv[0], c.argv[1:]...)
		if err != nil {
			return err
		}
		b.notes = append(b.notes, fmt.Sprintf("%s prints %d lines", filepath.Base(c.argv[0]), strings.Count(out, "\n")))
	}
	var bt, st, jt []float64
	for i := range b.cfg.qRuns + 3 {
		x, err := timed(ctx, work, b.b.env, bmcq...)
		if err != nil {
			return err
		}
		y, err := timed(ctx, work, b.s.env, squeue...)
		if err != nil {
			return err
		}
		z, err := timed(ctx, work, b.b.env, bmcqJSON...)
		if err != nil {
			return err
		}
		if i >= 3 {
			bt, st, jt = append(bt, ms(x)), append(st, ms(y)), append(jt, ms(z))
		}
	}
	b.add(fmt.Sprintf("queue listing at %d held, ms", b.cfg.queue), summary(bt).String(), summary(st).String(), ratios(st, bt),
		fmt.Sprintf("bmcq vs squeue, %d runs each after 3 warm-ups; target ≤ 55 ms", b.cfg.qRuns))
	b.add(fmt.Sprintf("bmcq --json at %d held, ms", b.cfg.queue), summary(jt).String(), "", "", "for reference")
	return nil
}

func (b *bench) add(what, bmcFig, slurmFig, r, note string) {
	b.rows = append(b.rows, [5]string{what, bmcFig, slurmFig, r, note})
	fmt.Fprintf(os.Stderr, "%-50s bmc %-22s slurm %-22s %s\n", what, bmcFig, slurmFig, r)
}

func (b *bench) report(start time.Time, load0, load1 string, took time.Duration) string {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "bench/slurm  %s  %s  %s/%s  %d CPUs (%s)\n", start.Format("2006-01-02 15:04 UTC"),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), proc.CPUModel())
	fmt.Fprintf(&buf, "load average before: %s  after: %s  run took %s\n", load0, load1, took.Round(time.Second))
	fmt.Fprintf(&buf, "bmcctld --sim %d (fsync on every commit)%s; Slurm: %s\n", b.cfg.sim, b.binNote(), b.slurmVersion())
	fmt.Fprintf(&buf, "figures: median (min–max); ratio: Slurm's cost over bmc's (above 1: bmc is better), for paired\n")
	fmt.Fprintf(&buf, "measurements the median of the pairs' ratios (min–max): each pair ran back to back\n\n")
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\tbmc\tSlurm\tratio\tnotes")
	for _, r := range b.rows {
		fmt.Fprintln(tw, strings.Join(r[:], "\t"))
	}
	tw.Flush()
	buf.WriteString("\n")
	for _, n := range b.notes {
		fmt.Fprintln(&buf, n)
	}
	return buf.String()
}

func (b *bench) slurmVersion() string {
	out, err := output(context.Background(), b.s.env, "sbatch", "--version")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(out)
}

func (b *bench) binNote() string {
	if b.cfg.bin == "" {
		return ", built from this tree"
	}
	return ", binaries from " + b.cfg.bin
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
