package main

// The queue phase: one large array pending behind long jobs, then listed
// and weighed.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/bench/proc"
)

// longJob keeps the simulated machines busy for an hour, so all but the
// first few array tasks stay PENDING (Resources) and every scheduling pass
// sees the whole queue.
const longJob = `name = "bench-array"
image = "busybox:1.36"
command = "true"
time_limit = "2:00:00"
[sim]
runtime = "1h"
`

func (b *bench) queuePhase(ctx context.Context) error {
	dir := filepath.Join(b.tmp, "queue")
	d, err := b.startDaemon(ctx, dir, "queue")
	if err != nil {
		return err
	}
	defer d.stop()
	file := filepath.Join(dir, "job.toml")
	if err := os.WriteFile(file, []byte(longJob), 0o644); err != nil {
		return err
	}
	spec := fmt.Sprintf("1-%d", b.cfg.arrayN)
	t0 := time.Now()
	if out, err := d.command(ctx, dir, "bmcsubmit", "--parsable", "--array", spec, "job.toml").CombinedOutput(); err != nil {
		return fmt.Errorf("bmcsubmit --array: %w: %s", err, out)
	}
	el := time.Since(t0)
	b.add(row{fmt.Sprintf("bmcsubmit --array %s", spec), "< 0.5 s", fmt.Sprintf("%.3f s", el.Seconds()), verdict(el < 500*time.Millisecond),
		"time of the bmcsubmit process, one durable commit"})

	// Let the scheduler start the first tasks and give the rest a reason,
	// so bmcq lists the queue users would see.
	pending, err := d.waitScheduled(ctx, b.cfg.arrayN)
	if err != nil {
		return err
	}

	// The first run checks the output; the timed runs write to /dev/null
	// as a redirected shell would.
	out, err := d.command(ctx, dir, "bmcq", "--json").Output()
	if err != nil {
		return fmt.Errorf("bmcq --json: %w", err)
	}
	var list api.JobList
	if err := json.Unmarshal(out, &list); err != nil || len(list.Jobs) != b.cfg.arrayN {
		return fmt.Errorf("bmcq --json: %d jobs, want %d (%v)", len(list.Jobs), b.cfg.arrayN, err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	times := make([]float64, 0, b.cfg.qRuns)
	for i := 0; i < b.cfg.qRuns+3; i++ {
		cmd := d.command(ctx, dir, "bmcq", "--json")
		cmd.Stdout = null
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("bmcq --json: %w", err)
		}
		if i >= 3 {
			times = append(times, ms(time.Since(t0)))
		}
	}
	slices.Sort(times)
	med := times[len(times)/2]
	b.add(row{fmt.Sprintf("bmcq --json, %d pending", pending), "< 30 ms", fmt.Sprintf("median %.1f ms", med), verdict(med < 30),
		fmt.Sprintf("min %.1f, p90 %.1f ms over %d runs; %d KB of JSON", times[0], times[len(times)*9/10], len(times), len(out)/1024)})

	// The same table bmcq prints by default, for reference.
	cmd := d.command(ctx, dir, "bmcq")
	cmd.Stdout = null
	t0 = time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bmcq: %w", err)
	}
	b.add(row{"bmcq (table), same queue", "", fmt.Sprintf("%.1f ms", ms(time.Since(t0))), "", "one run"})

	st, err := proc.Status(d.cmd.Process.Pid)
	if err != nil {
		return err
	}
	rss := st["VmRSS"] / 1024
	b.add(row{fmt.Sprintf("bmcctld VmRSS, %d queued", b.cfg.arrayN), "< 50 MB", fmt.Sprintf("%.1f MB", rss), verdict(rss < 50),
		fmt.Sprintf("RssAnon %.1f MB, RssFile %.1f MB (the binary's touched pages, bbolt's map), VmHWM %.1f MB", st["RssAnon"]/1024, st["RssFile"]/1024, st["VmHWM"]/1024)})
	return b.passPhase(ctx, d, pending)
}

// passPhase takes the mean scheduling pass over the same queue from the
// daemon's own histogram: the passes it runs on its --sched-interval timer
// during -pass-time, with nothing else asked of it.
func (b *bench) passPhase(ctx context.Context, d *daemon, pending int) error {
	if b.cfg.passTime <= 0 {
		return nil
	}
	n0, s0, err := d.passTotals(ctx)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.cfg.passTime):
	}
	n1, s1, err := d.passTotals(ctx)
	if err != nil {
		return err
	}
	if n1 <= n0 {
		return fmt.Errorf("no scheduling pass in %s", b.cfg.passTime)
	}
	mean := (s1 - s0) / (n1 - n0) * 1000
	b.add(row{fmt.Sprintf("scheduling pass, %d pending", pending), "", fmt.Sprintf("mean %.1f ms", mean), "",
		fmt.Sprintf("%.0f passes in %s, from bmc_scheduler_pass_seconds", n1-n0, b.cfg.passTime)})
	return nil
}
