package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/bmc-sched/bmc/bench/proc"
)

// timed runs argv once with stdout to /dev/null and returns its wall time.
func timed(ctx context.Context, dir string, env []string, argv ...string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	t0 := time.Now()
	err := cmd.Run()
	return time.Since(t0), err
}

// cpuOf is the CPU time the processes have used so far, summed.
func cpuOf(ds ...*daemon) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += proc.CPU(d.pid())
	}
	return t
}

// rss is a process's VmRSS and its anonymous and file-backed parts
// (RssAnon, RssFile: the binary's touched pages and mapped files), in MB.
type rss struct{ total, anon, file float64 }

func rssOf(d *daemon) (rss, error) {
	st, err := proc.Status(d.pid())
	if err != nil {
		return rss{}, err
	}
	return rss{st["VmRSS"] / 1024, st["RssAnon"] / 1024, st["RssFile"] / 1024}, nil
}

// stats summarises a sample: median, minimum and maximum.
type stats struct{ med, min, max float64 }

func summary(xs []float64) stats {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return stats{med, s[0], s[n-1]}
}

func (s stats) String() string { return fmt.Sprintf("%.1f (%.1f–%.1f)", s.med, s.min, s.max) }

// ratios is the median (min–max) of num[i]/den[i]: each pair ran back to
// back, so a load that came and went weighs on both of its sides.
func ratios(num, den []float64) string {
	r := make([]float64, len(num))
	for i := range num {
		r[i] = num[i] / den[i]
	}
	s := summary(r)
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", s.med, s.min, s.max)
}

// one prints a single ratio.
func one(r float64) string { return fmt.Sprintf("%.2f×", r) }
