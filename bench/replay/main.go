// Command replay runs an SWF workload trace through bmc's real scheduler
// (scheduler.Schedule, warm-machine preference included) and ctld's
// idle-off decisions (ctld.BreakevenHold, ctld.WarmOffDue) on simulated
// machines under a virtual clock, and prints, for each --idle-off policy,
// total energy, the floor (jobs alone), mean wait, mean bounded slowdown
// (τ = 10 s) and the number of boots. No time passes for real: the KTH-SP2
// trace (28,476 jobs) replays in minutes.
//
//	go run ./bench/replay -trace bench/replay/testdata/KTH-SP2-1996-2.1-cln.swf.gz
//
// The machine model (model.go) is a published SPECpower_ssj2008 result;
// the boot figures are assumptions, stated there and in bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/bmc-sched/bmc/internal/swf"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("replay", flag.ContinueOnError)
	fl.SetOutput(stderr)
	trace := fl.String("trace", "bench/replay/testdata/KTH-SP2-1996-2.1-cln.swf.gz", "SWF trace (.swf or .swf.gz)")
	jobs := fl.Int("jobs", 0, "replay only the first N jobs (0: all)")
	machines := fl.Int("machines", 0, "machines (0: the largest job's processors)")
	policies := fl.String("policies", "", "comma-separated policy names (default: all)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	var pols []Policy
	for _, p := range Policies {
		if *policies == "" || strings.Contains(","+*policies+",", ","+p.Name+",") {
			pols = append(pols, p)
		}
	}
	if len(pols) == 0 {
		return fmt.Errorf("no policy named in %q", *policies)
	}
	limit := *jobs
	if limit <= 0 {
		limit = 1 << 30
	}
	tr, err := swf.Open(*trace, limit)
	if err != nil {
		return err
	}
	n := *machines
	var recWait time.Duration
	recN := 0
	for _, j := range tr {
		if *machines <= 0 {
			n = max(n, j.Procs)
		}
		if j.Wait >= 0 && j.Run > 0 && j.Procs > 0 {
			recWait += j.Wait
			recN++
		}
	}
	var rows []Result
	for _, p := range pols {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		r, err := Replay(ctx, tr, n, x3550, p)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		fmt.Fprintf(stderr, "%s: %d passes in %s\n", p.Name, r.Passes, time.Since(start).Round(time.Millisecond))
		rows = append(rows, r)
	}
	fmt.Fprintf(stdout, "trace %s: %d jobs (%d one-machine tasks) on %d machines of %s; break-even T = %s\n",
		*trace, rows[0].Jobs, rows[0].Tasks, n, x3550.Name, rows[0].Hold.Round(time.Second))
	if recN > 0 {
		fmt.Fprintf(stdout, "mean wait recorded in the trace: %.0f s\n", (recWait / time.Duration(recN)).Seconds())
	}
	return table(stdout, rows)
}

// table prints the rows as Markdown, with each policy's share of what
// always-on (the first row, when it is there) wastes above the floor.
func table(w io.Writer, rows []Result) error {
	var base *Result
	for i := range rows {
		if rows[i].Policy.Name == Policies[0].Name {
			base = &rows[i]
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| policy\t total GJ\t floor GJ\t boot GJ\t idle GJ\t waste captured\t mean wait s\t bounded slowdown\t boots\t reuses\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t")
	for _, r := range rows {
		captured := "-"
		if base != nil && base.TotalJ > base.FloorJ {
			captured = fmt.Sprintf("%.1f %%", 100*(base.TotalJ-r.TotalJ)/(base.TotalJ-base.FloorJ))
		}
		fmt.Fprintf(tw, "| %s\t %.3f\t %.3f\t %.3f\t %.3f\t %s\t %.0f\t %.2f\t %d\t %d\t\n", r.Policy.Name,
			r.TotalJ/1e9, r.FloorJ/1e9, r.BootJ/1e9, r.IdleJ/1e9, captured, r.MeanWait.Seconds(), r.BSLD, r.Boots, r.Reuses)
	}
	return tw.Flush()
}
