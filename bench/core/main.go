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
// stay pending behind long simulated jobs, and is then queried and weighed.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/bench/proc"
	"github.com/bmc-sched/bmc/job"
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

// heldJob is queued held, so the submit measurements time submits only.
const heldJob = `name = "bench"
image = "busybox:1.36"
command = "true"
time_limit = "10:00"
hold = true
`

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

func (b *bench) submitPhase(ctx context.Context) error {
	dir := filepath.Join(b.tmp, "submit")
	d, err := b.startDaemon(ctx, dir, "submit")
	if err != nil {
		return err
	}
	defer d.stop()
	if err := os.WriteFile(filepath.Join(dir, "job.toml"), []byte(heldJob), 0o644); err != nil {
		return err
	}
	if b.cfg.seqN > 0 {
		if err := b.seqPhase(ctx, d, dir); err != nil {
			return err
		}
	}
	if b.cfg.apiTime <= 0 {
		return nil
	}
	one, err := b.apiSubmits(ctx, d, 1, 2*time.Second)
	if err != nil {
		return err
	}
	b.add(row{"API submit, 1 client", "", fmt.Sprintf("%.0f jobs/s", one.rate), "",
		fmt.Sprintf("latency p50 %.2f ms, p99 %.2f ms", one.p50, one.p99)})
	cpu0, self0 := proc.CPU(d.cmd.Process.Pid), proc.CPU(os.Getpid())
	many, err := b.apiSubmits(ctx, d, b.cfg.clients, b.cfg.apiTime)
	if err != nil {
		return err
	}
	cpu, self := proc.CPU(d.cmd.Process.Pid)-cpu0, proc.CPU(os.Getpid())-self0
	b.add(row{fmt.Sprintf("API submit, %d clients", b.cfg.clients), "≥ 20,000 jobs/s", fmt.Sprintf("%.0f jobs/s", many.rate),
		verdict(many.rate >= 20000), fmt.Sprintf("%d durable submits in %s; p50 %.2f ms, p99 %.2f ms; CPU per submit: bmcctld %.0f µs (%.0f %% of a core), clients %.0f µs; CPU-bound ceiling with all %d CPUs free: %.0f/s",
			many.n, b.cfg.apiTime, many.p50, many.p99, cpu.Seconds()*1e6/float64(many.n), 100*cpu.Seconds()/b.cfg.apiTime.Seconds(),
			self.Seconds()*1e6/float64(many.n), runtime.NumCPU(), float64(runtime.NumCPU())*float64(many.n)/(cpu+self).Seconds())})
	return nil
}

// seqPhase times bmcsubmit processes started by bash loops.
func (b *bench) seqPhase(ctx context.Context, d *daemon, dir string) error {
	// A few submits first so page cache, daemon goroutines and the state
	// file's first pages are warm, as they are on a live system.
	if _, err := b.shellLoops(ctx, d, dir, 1, 20); err != nil {
		return err
	}
	n := b.cfg.seqN
	cpu0 := proc.CPU(d.cmd.Process.Pid)
	el, err := b.shellLoops(ctx, d, dir, 1, n)
	if err != nil {
		return err
	}
	cpu := proc.CPU(d.cmd.Process.Pid) - cpu0
	rate := float64(n) / el.Seconds()
	b.add(row{"bmcsubmit --parsable, 1 shell loop", "≥ 300 jobs/s", fmt.Sprintf("%.0f jobs/s (%.2f ms each)", rate, ms(el)/float64(n)),
		verdict(rate >= 300), fmt.Sprintf("%d sequential processes; bmcctld CPU %.0f µs/submit; Slurm side by side: go run ./bench/slurm", n, cpu.Seconds()*1e6/float64(n))})
	// The floor: the same loop running a command that starts the same
	// binary and exits at once.
	help, err := b.helpLoop(ctx, dir, n/4)
	if err != nil {
		return err
	}
	b.add(row{"  same loop, bmcsubmit --help", "", fmt.Sprintf("%.2f ms each", ms(help)/float64(n/4)), "",
		"process start-up alone (no file, no daemon)"})
	el, err = b.shellLoops(ctx, d, dir, 2, n/2)
	if err != nil {
		return err
	}
	rate = float64(n/2*2) / el.Seconds()
	b.add(row{"bmcsubmit --parsable, 2 shell loops", "(Slurm: 251/s)", fmt.Sprintf("%.0f jobs/s", rate), "",
		fmt.Sprintf("2 × %d, wall time of both", n/2)})
	return nil
}

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
		fmt.Sprintf("RssAnon %.1f MB, RssFile %.1f MB (bbolt mmap), VmHWM %.1f MB", st["RssAnon"]/1024, st["RssFile"]/1024, st["VmHWM"]/1024)})
	return nil
}

// shellLoops runs `loops` bash for-loops at once, each submitting n jobs
// with one bmcsubmit process per job, and returns the wall time of all.
func (b *bench) shellLoops(ctx context.Context, d *daemon, dir string, loops, n int) (time.Duration, error) {
	return proc.ShellLoops(ctx, dir, []string{"BMC_SOCKET=" + d.sock}, loops, n, filepath.Join(b.bin, "bmcsubmit"), "--parsable", "job.toml")
}

// helpLoop times a bash loop of `bmcsubmit --help`.
func (b *bench) helpLoop(ctx context.Context, dir string, n int) (time.Duration, error) {
	return proc.ShellLoops(ctx, dir, nil, 1, n, filepath.Join(b.bin, "bmcsubmit"), "--help")
}

type apiResult struct {
	n        int
	rate     float64
	p50, p99 float64 // ms
}

// apiSubmits runs `clients` goroutines, each with its own api.Client (its
// own connection), submitting held jobs back to back for dur.
func (b *bench) apiSubmits(ctx context.Context, d *daemon, clients int, dur time.Duration) (apiResult, error) {
	spec, err := job.Parse("job.toml", []byte(heldJob))
	if err != nil {
		return apiResult{}, err
	}
	req := api.SubmitRequest{Spec: *spec, Cwd: b.tmp, File: "job.toml"}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([][]time.Duration, clients)
	errc := make(chan error, clients)
	var wg, ready sync.WaitGroup
	var deadline time.Time
	begin := make(chan struct{})
	for i := range clients {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			c := api.NewClient(d.sock)
			// One warm-up submit opens the connection outside the timing.
			_, err := c.Submit(ctx, req)
			ready.Done()
			if err != nil {
				errc <- err
				return
			}
			<-begin
			for {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				resp, err := c.Submit(ctx, req)
				if err != nil {
					errc <- err
					return
				}
				if len(resp.IDs) != 1 {
					errc <- fmt.Errorf("submit answered %d ids", len(resp.IDs))
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	// Start everyone together once all are connected.
	ready.Wait()
	t0 := time.Now()
	deadline = t0.Add(dur)
	close(begin)
	wg.Wait()
	el := time.Since(t0)
	close(errc)
	if err := <-errc; err != nil {
		return apiResult{}, fmt.Errorf("api submit: %w", err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return apiResult{}, errors.New("api submit: nothing submitted")
	}
	slices.Sort(all)
	return apiResult{
		n: len(all), rate: float64(len(all)) / el.Seconds(),
		p50: ms(all[len(all)/2]), p99: ms(all[len(all)*99/100]),
	}, nil
}

// daemon is one bmcctld process.
type daemon struct {
	cmd    *exec.Cmd
	sock   string
	bin    string
	exited chan error
}

func (b *bench) startDaemon(ctx context.Context, dir, name string) (*daemon, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &daemon{sock: filepath.Join(dir, "bmcctld.sock"), bin: b.bin, exited: make(chan error, 1)}
	args := []string{"--state-dir", dir, "--sim", strconv.Itoa(b.cfg.sim),
		"--node-listen", "127.0.0.1:0", "--log-file", filepath.Join(dir, "bmcctld.log")}
	if b.cfg.profiles != "" {
		args = append(args, "--cpuprofile", filepath.Join(b.cfg.profiles, name+".cpu.pprof"),
			"--memprofile", filepath.Join(b.cfg.profiles, name+".heap.pprof"))
	}
	d.cmd = exec.Command(filepath.Join(b.bin, "bmcctld"), args...)
	d.cmd.Stderr = os.Stderr
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.exited <- d.cmd.Wait() }()
	c := api.NewClient(d.sock)
	for t0 := time.Now(); ; {
		if _, err := c.Whoami(ctx); err == nil {
			return d, nil
		}
		select {
		case err := <-d.exited:
			return nil, fmt.Errorf("bmcctld exited at start: %v (log in %s)", err, dir)
		case <-ctx.Done():
			d.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(t0) > 20*time.Second {
			d.stop()
			return nil, fmt.Errorf("bmcctld did not answer in 20s (log in %s)", dir)
		}
	}
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
}

func (d *daemon) command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(d.bin, name), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BMC_SOCKET="+d.sock)
	return cmd
}

// waitScheduled waits until n jobs are queued and a scheduling pass has
// started some of them, and returns how many are still PENDING.
func (d *daemon) waitScheduled(ctx context.Context, n int) (int, error) {
	c := api.NewClient(d.sock)
	for t0 := time.Now(); time.Since(t0) < 30*time.Second; {
		l, err := c.Jobs(ctx, api.JobFilter{})
		if err != nil {
			return 0, err
		}
		pending := 0
		for _, j := range l.Jobs {
			if j.State == job.Pending {
				pending++
			}
		}
		if len(l.Jobs) == n && pending < n {
			return pending, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return 0, errors.New("no scheduling pass started any job within 30s")
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
