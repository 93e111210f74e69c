package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// cell is the figures of one (path, length).
type cell struct {
	path     path
	length   time.Duration
	n        int     // jobs billed and compared
	failed   int     // jobs that did not complete or bill
	stalled  int     // jobs not compared: the host stalled in their window
	mean     float64 // mean error, %
	worst    float64 // the error of largest magnitude, %
	window   float64 // mean power-on → off window, s
	methods  []string
	estimate int // bills marked estimated
	// the run phase alone, over the nRun jobs whose run could be compared
	nRun              int
	runMean, runWorst float64
}

// goal is the accuracy target for a job of length l.
func goal(l time.Duration) float64 {
	if l >= time.Minute {
		return 1
	}
	return 3
}

func summarize(rs []result, cfg config) []cell {
	var out []cell
	for _, p := range cfg.paths {
		for _, l := range cfg.lengths {
			c := cell{path: p, length: l}
			var sum, win, runSum float64
			for _, r := range rs {
				if r.path != p || r.length != l {
					continue
				}
				if r.stalled {
					c.stalled++
					continue
				}
				if r.err != "" || r.truth <= 0 {
					c.failed++
					continue
				}
				e := r.errPct()
				c.n++
				sum += e
				win += r.window.Seconds()
				if math.Abs(e) > math.Abs(c.worst) {
					c.worst = e
				}
				if r.est {
					c.estimate++
				}
				if !slices.Contains(c.methods, r.methods) {
					c.methods = append(c.methods, r.methods)
				}
				if r.runTruth > 0 {
					e := r.runErrPct()
					c.nRun++
					runSum += e
					if math.Abs(e) > math.Abs(c.runWorst) {
						c.runWorst = e
					}
				}
			}
			if c.n > 0 {
				c.mean, c.window = sum/float64(c.n), win/float64(c.n)
			}
			if c.nRun > 0 {
				c.runMean = runSum / float64(c.nRun)
			}
			out = append(out, c)
		}
	}
	return out
}

// writeTable prints one row per cell: mean and worst error against the
// goal, and which ledger method billed the boot/run/off phases.
func writeTable(w io.Writer, cfg config, cells []cell, took time.Duration) {
	if took > 0 {
		fmt.Fprintf(w, "billed vs lab truth (jobs: the cell's finished jobs), run took %s\n", took.Round(time.Second))
	} else {
		fmt.Fprintf(w, "billed vs lab truth (jobs: the cell's finished jobs), from the runs' traces\n")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "path\ttruth\tlength\tjobs\twindow\tmean err\tworst err\tgoal\trun phase mean/worst\tmethod (boot/run/off)\tnote")
	for _, c := range cells {
		_, truth := c.path.truth()
		var notes []string
		if c.n > 0 && math.Abs(c.worst) > goal(c.length) {
			notes = append(notes, "misses the goal")
		}
		if c.stalled > 0 {
			notes = append(notes, fmt.Sprintf("%d not compared: host stalled", c.stalled))
		}
		if c.failed > 0 {
			notes = append(notes, fmt.Sprintf("%d failed", c.failed))
		}
		if c.estimate > 0 {
			notes = append(notes, fmt.Sprintf("%d estimated", c.estimate))
		}
		if c.n == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t0\t-\t-\t-\t±%.0f %%\t-\t-\t%s\n", c.path, truth, c.length, goal(c.length), strings.Join(notes, "; "))
			continue
		}
		run := "-"
		if c.nRun > 0 {
			run = fmt.Sprintf("%+.2f / %+.2f %%", c.runMean, c.runWorst)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.1fs\t%+.2f %%\t%+.2f %%\t±%.0f %%\t%s\t%s\t%s\n", c.path, truth, c.length, c.n, c.window,
			c.mean, c.worst, goal(c.length), run, strings.Join(c.methods, ", "), strings.Join(notes, "; "))
	}
	tw.Flush()
}
