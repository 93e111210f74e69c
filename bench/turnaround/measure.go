package main

// One configuration's run: the array, its makespan, its energy.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/api"
)

type result struct {
	config
	makespan        time.Duration // first submit → last end
	billedPerTask   float64       // joules the ledger billed, per task
	meteredPerTask  float64       // joules both meters counted from submit to both nodes off, per task
	boots, reused   int           // tasks that booted their machine, and that took it warm
	medianTurnround time.Duration // a task's submit → end, median
}

func measure(ctx context.Context, o options, c config, log *slog.Logger) (r result, err error) {
	r.config = c
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	l, err := labUp(ctx, o, filepath.Join(o.dir, c.name), 2)
	if err != nil {
		return r, err
	}
	defer func() {
		if derr := l.down(); derr != nil && err == nil {
			err = derr
		}
	}()
	if err := l.restart(ctx, c.flags); err != nil {
		return r, err
	}
	work := filepath.Join(l.dir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return r, err
	}
	spec := fmt.Sprintf("name = \"turnaround\"\nimage = \"oci:%s/images/busybox\"\narray = \"1-%d\"\ntime_limit = \"5:00\"\ncommand = \"sleep %g\"\n",
		l.dir, o.tasks, o.sleep.Seconds())
	if err := os.WriteFile(filepath.Join(work, "array.toml"), []byte(spec), 0o644); err != nil {
		return r, err
	}
	e0, err := l.energy()
	if err != nil {
		return r, err
	}
	out, err := l.bmc(ctx, work, "bmcsubmit", "--parsable", "array.toml")
	if err != nil {
		return r, err
	}
	arrayID := strings.TrimSpace(string(out))
	log.Info("array submitted", "config", c.name, "id", arrayID)
	tasks, err := l.follow(ctx, arrayID, o.tasks)
	if err != nil {
		return r, err
	}
	if err := l.untilOff(ctx); err != nil {
		return r, err
	}
	e1, err := l.energy()
	if err != nil {
		return r, err
	}
	first, last := tasks[0].SubmitTime, tasks[0].EndTime
	var turn []time.Duration
	for _, t := range tasks {
		first = minTime(first, t.SubmitTime)
		if t.EndTime.After(last) {
			last = t.EndTime
		}
		turn = append(turn, t.EndTime.Sub(t.SubmitTime))
		d, err := l.detail(ctx, t.JobID)
		if err != nil {
			return r, err
		}
		if on := firstDetail(d, "POWERING_ON"); strings.HasPrefix(on, "reset") || strings.HasPrefix(on, "kexec") {
			r.reused++
		} else {
			r.boots++
		}
	}
	slices.Sort(turn)
	r.medianTurnround = turn[len(turn)/2]
	r.makespan = last.Sub(first)
	r.meteredPerTask = (e1 - e0) / float64(len(tasks))
	acct, err := l.acct(ctx, work, arrayID)
	if err != nil {
		return r, err
	}
	r.billedPerTask = acct / float64(len(tasks))
	return r, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func firstDetail(d api.JobDetail, state string) string {
	for _, e := range d.Events {
		if string(e.State) == state {
			return e.Detail
		}
	}
	return ""
}

// energy sums both nodes' meters.
func (l *lab) energy() (float64, error) {
	var sum float64
	for i := 1; i <= 2; i++ {
		j, err := l.meterJoules(i)
		if err != nil {
			return 0, err
		}
		sum += j
	}
	return sum, nil
}

// follow waits until all n tasks of the array ended and returns them.
func (l *lab) follow(ctx context.Context, arrayID string, n int) ([]api.JobInfo, error) {
	for {
		out, err := l.bmc(ctx, l.dir, "bmcq", "--all", "--json", "--user", "root")
		if err != nil {
			return nil, err
		}
		var list api.JobList
		if err := json.Unmarshal(out, &list); err != nil {
			return nil, fmt.Errorf("bmcq --json: %w", err)
		}
		var tasks []api.JobInfo
		done := 0
		for _, j := range list.Jobs {
			if fmt.Sprint(j.ArrayJobID) != arrayID {
				continue
			}
			tasks = append(tasks, j)
			switch {
			case j.State == "COMPLETED":
				done++
			case j.State.Final():
				return nil, fmt.Errorf("task %s ended %s: %s", j.JobID, j.State, j.Detail)
			}
		}
		if len(tasks) == n && done == n {
			return tasks, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d tasks done: %w", done, n, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// untilOff waits for both nodes to be IDLE (switched off) again.
func (l *lab) untilOff(ctx context.Context) error {
	for {
		out, err := l.bmc(ctx, l.dir, "bmcq", "nodes", "--json")
		if err != nil {
			return err
		}
		var list api.NodeList
		if err := json.Unmarshal(out, &list); err != nil {
			return fmt.Errorf("bmcq nodes --json: %w", err)
		}
		idle := 0
		for _, n := range list.Nodes {
			if n.State == "IDLE" {
				idle++
			}
		}
		if idle == len(list.Nodes) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodes not off: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (l *lab) detail(ctx context.Context, id string) (api.JobDetail, error) {
	out, err := l.bmc(ctx, l.dir, "bmcq", "show", id, "--json")
	if err != nil {
		return api.JobDetail{}, err
	}
	var d api.JobDetail
	return d, json.Unmarshal(out, &d)
}

// acct is the energy the ledger billed to the array's tasks.
func (l *lab) acct(ctx context.Context, dir, arrayID string) (float64, error) {
	out, err := l.bmc(ctx, dir, "bmcq", "acct", "--json", "--user", "root")
	if err != nil {
		return 0, err
	}
	var list api.AcctList
	if err := json.Unmarshal(out, &list); err != nil {
		return 0, fmt.Errorf("bmcq acct --json: %w", err)
	}
	var sum float64
	for _, j := range list.Jobs {
		if strings.HasPrefix(j.JobID, arrayID+"_") {
			sum += j.EnergyJoules
		}
	}
	return sum, nil
}
