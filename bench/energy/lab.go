package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bmc-sched/bmc/api"
)

// path is one way bmcctld meters a node.
type path string

const (
	pathIPMI           path = "ipmi-sdr"
	pathRedfishCounter path = "redfish-counter"
	pathRedfishWatts   path = "redfish-watts"
	pathRAPL           path = "rapl-inband"
)

var allPaths = []path{pathIPMI, pathRedfishCounter, pathRedfishWatts, pathRAPL}

func parsePaths(s string) ([]path, error) {
	var out []path
	for _, f := range strings.Split(s, ",") {
		p := path(strings.TrimSpace(f))
		if !slices.Contains(allPaths, p) {
			return nil, fmt.Errorf("-paths: unknown path %q (have %v)", p, allPaths)
		}
		out = append(out, p)
	}
	return out, nil
}

// labArgs are the scripts/vlab up arguments and environment of a path's lab.
func (p path) labArgs() (args, env []string) {
	switch p {
	case pathRedfishCounter:
		return []string{"--redfish", "1"}, []string{"VLAB_REDFISH_COUNTER=on"}
	case pathRedfishWatts:
		return []string{"--redfish", "1"}, []string{"VLAB_REDFISH_COUNTER=off"}
	case pathRAPL:
		return []string{"--rapl", "1"}, nil
	}
	return nil, nil
}

// truth is what a path's bill is compared with: the machine's wall energy,
// or for RAPL the CPU package's, all a RAPL counter measures (a RAPL bill is
// a lower bound of the wall energy, never summed with it).
func (p path) truth() (file, name string) {
	if p == pathRAPL {
		return "package_joules", "package"
	}
	return "energy_joules", "wall"
}

// result is one job's bill against the truth.
type result struct {
	path    path
	length  time.Duration
	id      uint64
	start   time.Time // power-on
	end     time.Time // power-off confirmed
	billed  float64
	truth   float64
	window  time.Duration
	methods string // the ledger's method per phase, boot/run/off
	est     bool
	err     string // the job did not complete or bill
	// runBilled and runTruth are the run phase alone: what the meter path
	// measures once the job runs, apart from the boot (which an in-band
	// meter cannot see). runTruth is 0 when unknown.
	runBilled, runTruth float64
	stalled             bool // not compared: errHostStalled
}

func (r result) errPct() float64 { return 100 * (r.billed - r.truth) / r.truth }

func (r result) runErrPct() float64 { return 100 * (r.runBilled - r.runTruth) / r.runTruth }

// A gap in the truth counter (written at 50 Hz) longer than truthGap is the
// host frozen (the machine this lab runs on paused: 0.5-1.3 s often, once
// 11.5 s, in every lab at once): the model's monotonic clock did not run,
// so its truth stood still while the wall clock the bill uses went on (a
// 1.3 s freeze is +2.4 % on a 10 s job). A job is not compared when its
// window's freezes add up to more than maxStallShare of it: they could move
// its error by more than half the tightest goal (1 %).
const (
	truthGap      = 300 * time.Millisecond
	maxStallShare = 0.005
)

// errHostStalled marks a job whose window holds such a gap.
var errHostStalled = errors.New("the host stalled")

// compare fills r's bill from a's ledger and its truth from rows, the
// truth counter's values in time order.
func (r *result) compare(a api.AcctJob, rows []truthRow) error {
	at := func(t time.Time) (float64, bool) { return interpolate(rows, t) }
	// Who the job is comes first: a job not compared still gets its trace.
	r.id, r.start, r.end = a.ID, a.Start, a.End
	var stalled, longest time.Duration
	var at0 time.Time
	for i := 1; i < len(rows); i++ {
		if g := rows[i].t.Sub(rows[i-1].t); g > truthGap && rows[i].t.After(a.Start) && rows[i-1].t.Before(a.End) {
			stalled += g
			if g > longest {
				longest, at0 = g, rows[i-1].t
			}
		}
	}
	if w := a.End.Sub(a.Start); w > 0 && stalled.Seconds() > maxStallShare*w.Seconds() {
		r.stalled = true
		return fmt.Errorf("%w: no truth for %.1fs of the %.0fs window (longest %.1fs from %s)", errHostStalled,
			stalled.Seconds(), w.Seconds(), longest.Seconds(), at0.Format(time.RFC3339))
	}
	var ms []string
	for _, e := range a.Entries {
		ms = append(ms, e.Method)
	}
	r.methods, r.billed, r.est, r.window = strings.Join(ms, "/"), a.EnergyJoules, a.EnergyEstimated, a.End.Sub(a.Start)
	t0, ok0 := at(a.Start)
	t1, ok1 := at(a.End)
	if !ok0 || !ok1 {
		return fmt.Errorf("the truth does not cover %s..%s", a.Start, a.End)
	}
	r.truth = t1 - t0
	for _, e := range a.Entries {
		if e.Phase != "run" {
			continue
		}
		s, okS := at(e.Start)
		f, okE := at(e.End)
		if okS && okE && f > s {
			r.runBilled, r.runTruth = e.Joules, f-s
		}
	}
	return nil
}

// measurePath runs every length's jobs on a fresh one-node lab for p whose
// ports start at pb.
func measurePath(ctx context.Context, cfg config, p path, pb int, log io.Writer) ([]result, error) {
	dir := filepath.Join(cfg.dir, string(p))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	extra, env := p.labArgs()
	env = append(env, "BMCCTLD="+filepath.Join(cfg.bin, "bmcctld"), "VLAB_METER="+filepath.Join(cfg.bin, "vlab-meter"),
		"VLAB_REDFISH="+filepath.Join(cfg.bin, "vlab-redfish"), "VLAB_BMCCTLD_ARGS=--boot-timeout "+cfg.bootTimeout.String())
	up := append([]string{"up", "1", "--dir", dir, "--port-base", strconv.Itoa(pb),
		"--node-port", strconv.Itoa(pb + 2), "--metrics-port", strconv.Itoa(pb + 3),
		"--ssh-base", strconv.Itoa(pb + 4)}, extra...)
	if out, err := vlab(ctx, cfg.vlab, env, up...); err != nil {
		return nil, fmt.Errorf("%s: vlab up: %w\n%s", p, err, out)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if out, err := vlab(dctx, cfg.vlab, nil, "down", "--dir", dir); err != nil {
			fmt.Fprintf(log, "energy: %s: vlab down: %v\n%s", p, err, out)
		}
	}()
	tf, _ := p.truth()
	truth := recordTruth(filepath.Join(dir, "node1", tf))
	defer truth.stop()
	var tr *tracer
	if cfg.trace != "" {
		tr = newTracer(cfg.trace, p, dir, truth)
		defer tr.stop()
	}
	c := api.NewClient(filepath.Join(dir, "bmcctld.sock"))
	var out []result
	for _, l := range cfg.lengths {
		for k := 0; k < cfg.jobsOf(l); k++ {
			r, err := runJob(ctx, c, cfg, dir, l, truth)
			r.path, r.length = p, l
			if tr != nil && r.id != 0 { // billed: kept even when not compared, for -retable
				if terr := tr.write(ctx, c, r, k+1); terr != nil {
					fmt.Fprintf(log, "energy: %s: trace: %v\n", p, terr)
				}
			}
			if err != nil {
				r.err = err.Error()
			}
			out = append(out, r)
			fmt.Fprintf(log, "energy: %s %s job %d: billed %.1f J, truth %.1f J, %+.2f %% over %.1fs [%s]%s\n",
				p, l, k+1, r.billed, r.truth, r.errPct(), r.window.Seconds(), r.methods, errSuffix(r.err))
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
		}
	}
	return out, nil
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " error: " + e
}

func vlab(ctx context.Context, script string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}

// command keeps the CPU busy for the first half of d and sleeps the second:
// the bill then has to follow a load step, not only a flat line.
func command(d time.Duration) string {
	busy := int(d.Seconds()) / 2
	return fmt.Sprintf(`end=$(( $(date +%%s) + %d )); while [ $(date +%%s) -lt $end ]; do :; done; sleep %d`,
		busy, int(d.Seconds())-busy)
}

// runJob submits one job, waits for it to end and compares its bill with
// the truth over its power-on → power-off window.
func runJob(ctx context.Context, c *api.Client, cfg config, dir string, l time.Duration, truth *truthLog) (result, error) {
	var r result
	jobFile := filepath.Join(dir, "bench-job.toml")
	spec := fmt.Sprintf("name = \"bench-%s\"\nimage = \"oci:%s/images/busybox\"\ntime_limit = \"%d:00\"\ncommand = %q\n",
		l, dir, int(l.Minutes())+10, command(l))
	if err := os.WriteFile(jobFile, []byte(spec), 0o644); err != nil {
		return r, err
	}
	sub := exec.CommandContext(ctx, filepath.Join(cfg.bin, "bmcsubmit"), "--parsable", jobFile)
	sub.Dir = dir
	sub.Env = append(os.Environ(), "BMC_SOCKET="+filepath.Join(dir, "bmcctld.sock"))
	var so, se bytes.Buffer
	sub.Stdout, sub.Stderr = &so, &se
	if err := sub.Run(); err != nil {
		return r, fmt.Errorf("bmcsubmit: %v: %s", err, strings.TrimSpace(se.String()))
	}
	id := strings.TrimSpace(so.String())
	for {
		d, err := c.Job(ctx, id)
		if err != nil {
			return r, err
		}
		if d.State.Final() {
			if string(d.State) != "COMPLETED" {
				return r, fmt.Errorf("job %s ended %s: %s", id, d.State, d.Detail)
			}
			break
		}
		if _, err := c.WaitChange(ctx, d.ID, string(d.State)); err != nil {
			return r, err
		}
	}
	list, err := c.Acct(ctx, api.AcctFilter{IDs: []string{id}, Entries: true})
	if err != nil || len(list.Jobs) != 1 {
		return r, fmt.Errorf("acct %s: %v (%d jobs)", id, err, len(list.Jobs))
	}
	a := list.Jobs[0]
	// The truth file is rewritten at 50 Hz: wait until it covers the end.
	for i := 0; i < 100 && !truth.covers(a.End); i++ {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return r, r.compare(a, truth.snapshot())
}

// truthLog follows a ground-truth counter file, keeping each value with
// the file's modification time.
type truthLog struct {
	mu   sync.Mutex
	rows []truthRow
	done chan struct{}
	wg   sync.WaitGroup
}

type truthRow struct {
	t time.Time
	j float64
}

func recordTruth(file string) *truthLog {
	l := &truthLog{done: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(10 * time.Millisecond) // twice the writer's 50 Hz
		defer tick.Stop()
		var last time.Time
		for {
			select {
			case <-l.done:
				return
			case <-tick.C:
			}
			fi, err := os.Stat(file)
			if err != nil || fi.ModTime().Equal(last) {
				continue
			}
			b, err := os.ReadFile(file)
			if err != nil {
				continue
			}
			j, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
			if err != nil {
				continue
			}
			last = fi.ModTime()
			l.add(truthRow{last, j})
		}
	}()
	return l
}

func (l *truthLog) add(r truthRow) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.rows); n == 0 || r.t.After(l.rows[n-1].t) {
		l.rows = append(l.rows, r)
	}
}

func (l *truthLog) stop() { close(l.done); l.wg.Wait() }

func (l *truthLog) covers(t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.rows) > 0 && l.rows[len(l.rows)-1].t.After(t)
}

// at interpolates the counter at t.
// snapshot is a copy of the rows so far.
func (l *truthLog) snapshot() []truthRow {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.rows)
}

func (l *truthLog) at(t time.Time) (float64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return interpolate(l.rows, t)
}

func interpolate(rows []truthRow, t time.Time) (float64, bool) {
	i, _ := slices.BinarySearchFunc(rows, t, func(r truthRow, t time.Time) int { return r.t.Compare(t) })
	switch {
	case i < len(rows) && rows[i].t.Equal(t):
		return rows[i].j, true
	case i == 0 || i == len(rows):
		return 0, false
	}
	a, b := rows[i-1], rows[i]
	f := t.Sub(a.t).Seconds() / b.t.Sub(a.t).Seconds()
	return a.j + f*(b.j-a.j), true
}
