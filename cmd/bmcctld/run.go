package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/apiserver"
	"github.com/bmc-sched/bmc/boot"
	"github.com/bmc-sched/bmc/boot/image"
	"github.com/bmc-sched/bmc/buildinfo"
	"github.com/bmc-sched/bmc/ctld"
	"github.com/bmc-sched/bmc/dhcpd"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/internal/memlimit"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/machine/simnode"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/store"
)

// version is what the build stamped (package buildinfo).
var version = buildinfo.Version()

type flags struct {
	autoMemLimit   bool
	stateDir       string
	reuse          string
	socket         string
	nodesFile      string
	sim            int
	adminGroup     string
	metricsListen  string
	logFile        string
	logLevel       string
	logJSON        bool
	nodeListen     string
	nodeURL        string
	defaultKernel  string
	defaultInitrd  string
	kernelDirs     []string
	kernelCatalog  string
	archDefaults   map[string]string
	grubEFI        string
	agentDir       string
	defaultCmdline string
	cacheMaxBytes  int64
	fetchAllow     []string
	fetchTimeout   time.Duration
	fetchMaxBytes  int64
	registryAllow  []string
	imageMaxBytes  int64
	imageMaxFiles  int
	tariffsFile    string
	failureBilling string
	cpuProfile     string
	memProfile     string
	dhcp           dhcpFlags
	backup         backupFlags
	conns          connFlags
	privateData    string
	cfg            ctld.Config
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := flags{cfg: ctld.DefaultConfig()}
	cmd := &cobra.Command{
		Use:           "bmcctld [--restore [FILE]]",
		Short:         "bmc controller daemon: queue, power, network boot, energy",
		Args:          cobra.MaximumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.backup.restore {
				return restore(&f, args, time.Now(), stdout)
			}
			if len(args) > 0 {
				return fmt.Errorf("unexpected argument %q (only --restore takes a file)", args[0])
			}
			if f.backup.force {
				return errors.New("--force goes only with --restore")
			}
			return serve(cmd.Context(), &f, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.stateDir, "state-dir", "/var/lib/bmc", "directory for the state file, socket and caches")
	fl.StringVar(&f.socket, "socket", "", "user API socket (default <state-dir>/bmcctld.sock)")
	fl.StringVar(&f.nodesFile, "nodes", "", "nodes file (TOML)")
	fl.IntVar(&f.sim, "sim", 0, "start N simulated machines (no nodes file needed)")
	fl.StringVar(&f.adminGroup, "admin-group", "", "Unix group whose members may act on any job and drain nodes")
	fl.StringVar(&f.metricsListen, "metrics-listen", "", "address for Prometheus /metrics, e.g. 127.0.0.1:9150")
	fl.StringVar(&f.logFile, "log-file", "", "log to this file instead of stderr")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.BoolVar(&f.logJSON, "log-json", false, "log as JSON lines")
	fl.StringVar(&f.nodeListen, "node-listen", "127.0.0.1:8150", "node-facing HTTP listener (iPXE, artifacts, agent callbacks)")
	fl.StringVar(&f.nodeURL, "node-url", "", "base URL nodes use to reach --node-listen (default http://<node-listen>)")
	fl.StringVar(&f.defaultKernel, "default-kernel", "", "kernel for jobs that name none")
	fl.StringVar(&f.defaultInitrd, "default-initrd", "", "initrd for jobs that name none")
	fl.StringSliceVar(&f.kernelDirs, "kernel-dir", nil, "directory whose kernels and initrds jobs may name by path")
	fl.StringVar(&f.kernelCatalog, "kernels", "", "kernel catalog file (TOML) that bmcq kernels lists")
	fl.StringToStringVar(&f.archDefaults, "arch-default-kernel", nil, "ARCH=NAME: catalog kernel for jobs that name none on ARCH nodes (instead of --default-kernel)")
	fl.StringVar(&f.grubEFI, "grub-efi", "", "GRUB EFI image served at /grubaa64.efi to UEFI HTTP Boot nodes")
	fl.StringVar(&f.defaultCmdline, "default-cmdline", "console=ttyS0,115200", "kernel command line of the default kernel")
	fl.Int64Var(&f.cacheMaxBytes, "cache-max-bytes", 8<<30, "size limit of the image and initrd cache")
	fl.StringSliceVar(&f.fetchAllow, "fetch-allow", nil, "hosts (host, host:port or *.domain) job kernel/initrd URLs may name and redirect to; empty: job URLs are refused")
	fl.DurationVar(&f.fetchTimeout, "fetch-timeout", boot.DefaultFetchTimeout, "time limit of one job kernel/initrd download")
	fl.Int64Var(&f.fetchMaxBytes, "fetch-max-bytes", boot.DefaultMaxDownloadBytes, "size limit of one kernel or initrd a job names (URL or file)")
	fl.StringSliceVar(&f.registryAllow, "registry-allow", nil, "registries (host[:port], *.domain) images may be pulled from, with the hosts they redirect to; empty: registry images are refused")
	fl.Int64Var(&f.imageMaxBytes, "image-max-bytes", image.DefaultMaxBytes, "limit of an image's unpacked layers, all layers together")
	fl.IntVar(&f.imageMaxFiles, "image-max-files", image.DefaultMaxFiles, "limit of an image's files, all layers together")
	fl.StringSliceVar(&f.cfg.ImageRootUsers, "image-root-users", nil, "users who may set user = \"root\" in a job file (admins always may)")
	fl.BoolVar(&f.autoMemLimit, "auto-memory-limit", true, "keep the Go runtime's soft memory limit at 1.5 × the live heap (+ 8 MiB at least), and return garbage to the system after a quiet second, so resident memory follows the queue; ignored when GOMEMLIMIT is set")
	fl.StringVar(&f.agentDir, "agent-dir", "", "directory holding bmcinit-<arch> agent binaries (default: next to bmcctld)")
	f.dhcp.register(fl)
	f.backup.register(fl)
	fl.StringVar(&f.reuse, "reuse", string(ctld.ReuseSameUser), "same-user: a finished job's running machine goes to the same user's next job without a power cycle (reset, or kexec on nodes with kexec = true); never: power-cycle between jobs")
	f.conns.register(fl)
	fl.StringVar(&f.privateData, "private-data", "jobs,accounting", "what users may not see of others' jobs: jobs (all but id, name, user, state, node, reason), accounting (bills, power curves), both, or none")
	lim := &f.cfg.Limits
	fl.IntVar(&lim.MaxSubmitJobs, "max-submit-jobs", lim.MaxSubmitJobs, "jobs one user may have pending or running at once, array tasks each (0: no limit; bmcq user modify --max-submit-jobs for one user)")
	fl.IntVar(&lim.MaxJobs, "max-jobs", lim.MaxJobs, "jobs of one user that may run at once (0: no limit)")
	fl.IntVar(&lim.MaxArrayTasks, "max-array-size", lim.MaxArrayTasks, "tasks one array may have (at most 100000)")
	fl.IntVar(&f.cfg.MaxBootAttempts, "max-boot-attempts", f.cfg.MaxBootAttempts, "boots tried before a job is BOOT_FAIL")
	fl.DurationVar(&f.cfg.BootTimeout, "boot-timeout", 0, "power on → agent ready limit (default 4× the node's expected boot, ≥ 60s)")
	fl.DurationVar(&f.cfg.SchedInterval, "sched-interval", f.cfg.SchedInterval, "longest gap between scheduling passes")
	fl.DurationVar(&f.cfg.MinJobAge, "min-job-age", f.cfg.MinJobAge, "how long ended jobs stay in the default bmcq listing")
	fl.DurationVar(&f.cfg.Scheduler.DefaultTimeLimit, "default-time-limit", f.cfg.Scheduler.DefaultTimeLimit, "time limit of jobs that set none")
	fl.StringVar(&f.cfg.Scheduler.DefaultPartition, "default-partition", f.cfg.Scheduler.DefaultPartition, "partition of jobs and nodes that name none")
	fl.DurationVar(&f.cfg.Scheduler.PreferWaitMax, "prefer-wait-max", f.cfg.Scheduler.PreferWaitMax, "how long an arch=any job waits for the machine kind its history says uses the fewest joules")
	fl.DurationVar(&f.cfg.Energy.PowerInterval, "power-interval", time.Second, "how often a powered node's power is sampled for billing (negative: never)")
	fl.DurationVar(&f.cfg.Energy.SampleRetention, "sample-retention", ctld.DefaultSampleRetention, "how long a billed job's power readings are kept (compacted, lossless for the energy) for bmcq acct --samples and --recompute")
	fl.DurationVar(&f.cfg.Energy.StandbyInterval, "standby-interval", 0, "how often a node with no job (off, or on and idle) is metered for the unbilled ledger (default 5× --power-interval)")
	fl.StringVar(&f.failureBilling, "failure-billing", string(accounting.FailuresCluster), "who pays a boot that failed through the node or the controller (NODE_FAIL, BOOT_FAIL after node faults, aborted boots): cluster (credited to --overhead-account) or user")
	fl.StringVar(&f.cfg.Energy.OverheadAccount, "overhead-account", ctld.DefaultOverheadAccount, "account that credited failures count to (quotas, fair share)")
	fl.StringVar(&f.tariffsFile, "tariffs", "", "tariffs (with effective dates) and carbon-intensity windows (TOML; docs/accounting.md)")
	fl.BoolVar(&f.cfg.EnforceAssociations, "enforce-associations", false, "refuse jobs whose account their user may not charge even before any account is defined")
	fl.DurationVar(&f.cfg.FairShareHalfLife, "fair-share-half-life", 7*24*time.Hour, "how long until energy used counts half in the fair share")
	fl.Float64Var(&f.cfg.Scheduler.FairShareWeight, "fair-share-weight", f.cfg.Scheduler.FairShareWeight, "priority weight of the account's energy fair-share factor")
	rc := &f.cfg.Reconcile
	fl.DurationVar(&rc.Interval, "reconcile-interval", rc.Interval, "how often the reconciler compares each node and job with what it observes; also its first retry's wait")
	fl.Var(&rc.IdleOff, "idle-off", "after a job: switch its machine off at once (immediate), keep it on (IDLE-ON) for its kind's boot energy ÷ idle power or until no waiting job fits it (breakeven), or keep it on until a job needs it (never)")
	fl.DurationVar(&rc.IdleOffGrace, "idle-off-grace", rc.IdleOffGrace, "how long a machine found on that no job left on is held before the reconciler switches it off; also breakeven's hold for a kind without boot and idle figures")
	fl.DurationVar(&rc.PowerSync, "power-sync-interval", rc.PowerSync, "how often the BMC of a machine without a job is asked for its power state")
	fl.DurationVar(&rc.AgentTimeout, "agent-timeout", rc.AgentTimeout, "a running job whose node agent sends no heartbeat this long is NODE_FAIL and its machine switched off (0: never)")
	fl.DurationVar(&rc.RetryMax, "retry-max", rc.RetryMax, "longest wait between the reconciler's retries (they double from --reconcile-interval)")
	// Hidden: for bench/core and whoever chases a slow daemon with pprof.
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile to this file until bmcctld stops")
	fl.StringVar(&f.memProfile, "memprofile", "", "write a heap profile to this file when bmcctld stops")
	fl.MarkHidden("cpuprofile")
	fl.MarkHidden("memprofile")
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	return cmd.ExecuteContext(ctx)
}

func newLogger(f *flags, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, nil, fmt.Errorf("--log-level: %w", err)
	}
	w, closer := stderr, io.Closer(io.NopCloser(nil))
	if f.logFile != "" {
		lf, err := os.OpenFile(f.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("--log-file: %w", err)
		}
		w, closer = lf, lf
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if f.logJSON {
		return slog.New(slog.NewJSONHandler(w, opts)), closer, nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), closer, nil
}

func serve(ctx context.Context, f *flags, stderr io.Writer) error {
	log, closer, err := newLogger(f, stderr)
	if err != nil {
		return err
	}
	defer closer.Close()
	stopProfiles, err := startProfiles(f)
	if err != nil {
		return err
	}
	defer stopProfiles(log)
	if f.sim == 0 && f.nodesFile == "" {
		return errors.New("no machines: give --nodes FILE or --sim N")
	}
	if err := os.MkdirAll(f.stateDir, 0o755); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	if f.socket == "" {
		f.socket = filepath.Join(f.stateDir, "bmcctld.sock")
	}
	f.cfg.StateDir, f.cfg.AdminGroup = f.stateDir, f.adminGroup
	if err := f.cfg.Reconcile.Validate(); err != nil {
		return fmt.Errorf("reconciler: %w", err)
	}
	if f.cfg.Reuse, err = ctld.ParseReusePolicy(f.reuse); err != nil {
		return fmt.Errorf("--reuse: %w", err)
	}
	if _, err := f.backup.check(); err != nil {
		return err
	}
	if f.cfg.Energy.Failures, err = accounting.ParseFailurePolicy(f.failureBilling); err != nil {
		return fmt.Errorf("--failure-billing: %w", err)
	}
	if f.tariffsFile != "" {
		data, err := os.ReadFile(f.tariffsFile)
		if err != nil {
			return fmt.Errorf("--tariffs: %w", err)
		}
		if f.cfg.Energy.Tariffs, f.cfg.Energy.Carbon, err = accounting.ParseTariffFile(f.tariffsFile, data); err != nil {
			return fmt.Errorf("--tariffs: %w", err)
		}
	}
	clk := clock.Real{}

	st, err := store.Open(filepath.Join(f.stateDir, "state.db"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()

	machines, nodeLn, closeMachines, err := buildMachines(ctx, f, clk, log)
	if err != nil {
		return err
	}
	defer closeMachines()
	if nodeLn != nil {
		// Submit reads and verifies path images as the submitter, and
		// holds job URLs to the allow list.
		f.cfg.Images = nodeLn.boots
	}
	metrics := ctld.NewMetrics()
	backups, err := newBackups(&f.backup, f.stateDir, st, clk, log, metrics.Registry)
	if err != nil {
		return err
	}
	netMetrics := metrics.NewNetMetrics()
	c, err := ctld.New(f.cfg, st, machines, clk, log, metrics.Hooks())
	if errors.Is(err, store.ErrDamaged) {
		return fmt.Errorf("%w; %s", err, st.RestoreHint())
	}
	if err != nil {
		return err
	}
	if nodeLn != nil {
		// Nodes without a BMC meter are billed from their RAPL counter.
		nodeLn.hub.OnEnergy(c.AgentEnergy)
		nodeLn.hub.OnSecurity(func(ev machine.SecurityEvent) {
			netMetrics.Security(ev)
			c.SecurityEvent(ev)
		})
	}
	privacy, err := apiserver.ParsePrivacy(f.privateData)
	if err != nil {
		return err
	}
	srv := apiserver.NewServer(c, log, f.adminGroup, version)
	srv.SetPrivacy(privacy)
	srv.Handle("GET "+api.PathKernels, func(w http.ResponseWriter, r *http.Request, _ ctld.Identity) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(nodeLn.kernels(f))
	})
	ln, err := listenUnix(f.socket)
	if err != nil {
		return err
	}
	httpSrv := f.conns.apiServer(&http.Server{Handler: srv, ConnContext: apiserver.ConnContext})
	srv.SetReadTimeout(f.conns.apiRead)
	// One socket, two protocols: HTTP for the API, and the plain protocol
	// that bmcsubmit and bmcq's queue table use to stay quick to start.
	httpLn, plainLn := wire.Split(f.conns.api(ln, srv.Peer(), metrics.Registry), f.conns.apiRead)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.Run(gctx) })
	g.Go(func() error { return backups.Run(gctx) })
	if f.autoMemLimit && os.Getenv("GOMEMLIMIT") == "" {
		g.Go(func() error {
			memlimit.Run(gctx, clk, time.Second, memlimit.DefaultPolicy(), memlimit.Read, debug.FreeOSMemory)
			return nil
		})
	}
	g.Go(func() error { return serveUntil(gctx, httpSrv, httpLn) })
	g.Go(func() error { return srv.ServeWire(gctx, plainLn) })
	if nodeLn != nil {
		nln := f.conns.node(nodeLn.ln, nodeLn.srv, metrics.Registry)
		g.Go(func() error { return serveUntil(gctx, nodeLn.srv, nln) })
	}
	if nodeLn != nil && nodeLn.dhcp != nil {
		g.Go(func() error { return nodeLn.dhcp.Serve(gctx, f.dhcp.iface, log, netMetrics.DHCP) })
		if f.dhcp.noRouter {
			g.Go(func() error { return dhcpd.ServeNoRouter(gctx, f.dhcp.iface, log) })
		}
	}
	if f.metricsListen != "" {
		mln, err := net.Listen("tcp", f.metricsListen)
		if err != nil {
			return fmt.Errorf("--metrics-listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", collectThen(metrics, c, promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})))
		g.Go(func() error {
			return serveUntil(gctx, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, mln)
		})
	}
	log.Info("bmcctld started", "version", version, "socket", f.socket, "state_dir", f.stateDir,
		"nodes", len(machines), "metrics", f.metricsListen, "pid", os.Getpid())
	err = g.Wait()
	if err == nil || errors.Is(err, context.Canceled) {
		// A clean shutdown: nothing writes the state any more.
		err = backups.Final()
	}
	log.Info("bmcctld stopped")
	return err
}

// startProfiles starts the CPU profile if asked; the returned func stops it
// and writes the heap profile. Without --memprofile the runtime samples no
// allocations at all: its default rate kept ~1.5 MB of stack buckets that are
// never freed (runtime/metrics /memory/classes/profiling/buckets at 10,000
// pending), for a profile nobody asked for.
func startProfiles(f *flags) (func(*slog.Logger), error) {
	if f.memProfile == "" {
		runtime.MemProfileRate = 0
	}
	var cpu *os.File
	if f.cpuProfile != "" {
		var err error
		if cpu, err = os.Create(f.cpuProfile); err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	return func(log *slog.Logger) {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if f.memProfile == "" {
			return
		}
		mf, err := os.Create(f.memProfile)
		if err != nil {
			log.Error("memprofile", "err", err)
			return
		}
		defer mf.Close()
		runtime.GC()
		if err := pprof.WriteHeapProfile(mf); err != nil {
			log.Error("memprofile", "err", err)
		}
	}, nil
}

func collectThen(m *ctld.Metrics, c *ctld.Controller, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Collect(c)
		h.ServeHTTP(w, r)
	})
}

var _ prometheus.Collector = (*prometheus.GaugeVec)(nil)

// serveUntil serves until ctx ends, then shuts down gracefully.
func serveUntil(ctx context.Context, s *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(sctx)
		return nil
	}
}

// listenUnix binds the socket, replacing a stale one left by a killed
// daemon but never one that a live daemon answers on.
func listenUnix(path string) (net.Listener, error) {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("socket %s: another bmcctld is listening", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	// Every local user may talk; who they are comes from SO_PEERCRED.
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("socket: %w", err)
	}
	return ln, nil
}

// buildMachines turns flags and the nodes file into machines.
func buildMachines(ctx context.Context, f *flags, clk clock.Clock, log *slog.Logger) ([]machine.Node, *nodeListener, func(), error) {
	simDir := filepath.Join(f.stateDir, "sim")
	if err := os.MkdirAll(simDir, 0o755); err != nil {
		return nil, nil, nil, err
	}
	var nodeLn *nodeListener
	var out []machine.Node
	if f.sim > 0 {
		ms, err := simnode.Cluster(f.sim, simDir, clk, log)
		if err != nil {
			return nil, nil, nil, err
		}
		out = append(out, ms...)
	}
	if f.nodesFile != "" {
		data, err := os.ReadFile(f.nodesFile)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--nodes: %w", err)
		}
		cfgs, err := node.ParseFile(f.nodesFile, data)
		if err != nil {
			return nil, nil, nil, err
		}
		var real []node.Config
		for _, cfg := range cfgs {
			if strings.EqualFold(cfg.BMC.Protocol, "sim") {
				m, err := simnode.New(cfg, simDir, clk, log)
				if err != nil {
					return nil, nil, nil, err
				}
				out = append(out, machine.Node{Config: cfg, Machine: m})
				continue
			}
			real = append(real, cfg)
		}
		if len(real) > 0 {
			ms, ln, err := realMachines(ctx, f, real, clk, log)
			if err != nil {
				return nil, nil, nil, err
			}
			nodeLn = ln
			out = append(out, ms...)
		}
	}
	return out, nodeLn, func() {
		for _, m := range out {
			m.Machine.Close()
		}
	}, nil
}
