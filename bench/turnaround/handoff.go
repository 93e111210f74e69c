package main

// -handoff: how long each way of giving a machine to the next job takes on
// one aarch64 lab node: a power cycle, a reset, a kexec.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/api"
)

// handoffKinds are the POWERING_ON details' first words, in report order.
var handoffKinds = []string{"boot", "reset", "kexec"}

// measureHandoff brings up a lab with one aarch64 node whose nodes-file
// entry says kexec = true and submits, at once, rounds of four jobs of one
// user: one with reuse = false (its machine is never handed on), one after
// it (so a power cycle), one with the same boot (a reset), one with another
// command line (a kexec). It returns POWERING_ON → RUNNING of every job by
// the way it got its machine.
func measureHandoff(ctx context.Context, o options, log *slog.Logger) (map[string][]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	l, err := labUp(ctx, o, filepath.Join(o.dir, "handoff"), 1, "--arm", "1")
	if err != nil {
		return nil, err
	}
	defer l.down()
	nodes := filepath.Join(l.dir, "nodes.toml")
	b, err := os.ReadFile(nodes)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(nodes, []byte(strings.ReplaceAll(string(b), "\n[node.bmc]\n", "\nkexec = true\n[node.bmc]\n")), 0o644); err != nil {
		return nil, err
	}
	if err := l.restart(ctx, nil); err != nil {
		return nil, err
	}
	work := filepath.Join(l.dir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	var ids []string
	for r := 0; r < o.handoff; r++ {
		for i, extra := range []string{"reuse = false\n", "", "", ""} {
			k := r
			if i == 3 {
				k = 100 + r
			}
			spec := fmt.Sprintf("name = \"handoff\"\nimage = \"oci:%s/images/busybox-multi\"\narch = \"aarch64\"\ntime_limit = \"5:00\"\ncmdline = \"quiet bmc_k=%d\"\ncommand = \"true\"\n%s",
				l.dir, k, extra)
			f := filepath.Join(work, fmt.Sprintf("job-%d-%d.toml", r, i))
			if err := os.WriteFile(f, []byte(spec), 0o644); err != nil {
				return nil, err
			}
			out, err := l.bmc(ctx, work, "bmcsubmit", "--parsable", f)
			if err != nil {
				return nil, err
			}
			ids = append(ids, strings.TrimSpace(string(out)))
		}
	}
	log.Info("handoff jobs submitted", "jobs", len(ids))
	got := map[string][]time.Duration{}
	for _, id := range ids {
		d, err := l.waitDone(ctx, id)
		if err != nil {
			return nil, err
		}
		var on, run time.Time
		for _, e := range d.Events {
			switch {
			case e.State == "POWERING_ON" && on.IsZero():
				on = e.Time
			case e.State == "RUNNING" && run.IsZero():
				run = e.Time
			}
		}
		kind := "boot"
		for _, k := range handoffKinds[1:] {
			if strings.HasPrefix(firstDetail(d, "POWERING_ON"), k) {
				kind = k
			}
		}
		got[kind] = append(got[kind], run.Sub(on))
		log.Info("job done", "id", id, "kind", kind, "powering_on_to_running", run.Sub(on))
	}
	return got, nil
}

// waitDone polls job id until it COMPLETED (or fails on another end).
func (l *lab) waitDone(ctx context.Context, id string) (d api.JobDetail, err error) {
	for {
		if d, err = l.detail(ctx, id); err != nil {
			return d, err
		}
		switch {
		case d.State == "COMPLETED":
			return d, nil
		case d.State.Final():
			return d, fmt.Errorf("job %s ended %s: %s", id, d.State, d.Detail)
		}
		select {
		case <-ctx.Done():
			return d, fmt.Errorf("job %s: %w", id, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func reportHandoff(w io.Writer, got map[string][]time.Duration) {
	fmt.Fprintln(w, "POWERING_ON → RUNNING on one aarch64 lab node (TCG, UEFI), by how the job got its machine")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| hand-off | jobs | median | min | max |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, k := range handoffKinds {
		ds := slices.Clone(got[k])
		if len(ds) == 0 {
			fmt.Fprintf(w, "| %s | 0 | | | |\n", k)
			continue
		}
		slices.Sort(ds)
		fmt.Fprintf(w, "| %s | %d | %.2f s | %.2f s | %.2f s |\n", k, len(ds),
			ds[len(ds)/2].Seconds(), ds[0].Seconds(), ds[len(ds)-1].Seconds())
	}
	if b, k := got["boot"], got["kexec"]; len(b) > 0 && len(k) > 0 {
		b, k = slices.Sorted(slices.Values(b)), slices.Sorted(slices.Values(k))
		fmt.Fprintf(w, "\nkexec against a power cycle (medians): %.1f× sooner\n", b[len(b)/2].Seconds()/k[len(k)/2].Seconds())
	}
}
