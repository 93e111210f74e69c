package pid1

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bmc-sched/bmc/agent"
	"github.com/bmc-sched/bmc/agent/proto"
)

// Paths of the node's layout.
const (
	NewRoot   = "/newroot"
	OutputDir = "/run/bmc"
	// CmdlineCopy is /proc/cmdline without the token, shown to jobs.
	CmdlineCopy = "/run/bmc/cmdline"
	ModulesDir  = "/lib/modules"
	ModulesList = "/etc/modules.order"
	RAPLEnergy  = "/sys/class/powercap/intel-rapl:0/energy_uj"
	// RAPLMaxRange is where RAPLEnergy wraps to 0.
	RAPLMaxRange = "/sys/class/powercap/intel-rapl:0/max_energy_range_uj"
	// failDelay leaves the console message readable before power-off.
	failDelay = 10 * time.Second
)

// Main runs bmcinit as PID 1 and never returns while it is PID 1: it either
// serves the job until the controller powers the node off, or powers off
// itself after a failure. Run as any other process it refuses and returns 2.
func Main() int {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "bmcinit: must run as PID 1 (rdinit=/bmcinit); refusing to touch this system")
		return 2
	}
	out := io.Writer(os.Stdout)
	log := NewConsoleLogger(out, Uptime)
	var api *agent.API
	defer func() {
		// A panic in PID 1 is a kernel panic: turn it into a clean failure.
		if r := recover(); r != nil {
			fail(log, api, fmt.Errorf("bmcinit: panic: %v", r))
		}
	}()
	if err := mountEarly(); err != nil {
		fail(log, nil, err)
	}
	if c := reopenConsole(); c != nil {
		log = NewConsoleLogger(c, Uptime)
	}
	log.Info("start", "pid", os.Getpid())
	reaper := agent.NewReaper()
	go reap(reaper)
	ctx := context.Background()
	srv, cfg, n, err := boot(ctx, log, &api, reaper)
	if err != nil {
		fail(log, api, err)
	}
	go keepLease(ctx, log, n.lease)
	serve(ctx, log, n, srv, cfg)
	return 0
}

func fail(log *slog.Logger, api *agent.API, err error) {
	log.Error("boot failed; powering off", "err", err, "in", failDelay.String())
	if api != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if perr := api.Progress(ctx, proto.Progress{Phase: "error", Detail: err.Error(), Uptime: Uptime().Seconds()}); perr != nil {
			log.Warn("error report not delivered", "err", perr)
		}
		cancel()
	}
	<-time.After(failDelay)
	powerOff(log)
}

func powerOff(log *slog.Logger) {
	log.Info("power off")
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		log.Error("power off failed", "err", err)
	}
	for { // PID 1 must not exit, and an empty select would be a deadlock crash
		time.Sleep(time.Hour)
	}
}

func mountEarly() error {
	type m struct{ src, dst, fs, data string }
	for _, mt := range []m{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", "mode=0755"},
		{"devpts", "/dev/pts", "devpts", "newinstance,ptmxmode=0666,mode=0620"},
		{"tmpfs", "/run", "tmpfs", "mode=0755"},
	} {
		if err := os.MkdirAll(mt.dst, 0o755); err != nil {
			return fmt.Errorf("bmcinit: mkdir %s: %w", mt.dst, err)
		}
		err := unix.Mount(mt.src, mt.dst, mt.fs, unix.MS_NOSUID, mt.data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("bmcinit: mount %s on %s: %w", mt.fs, mt.dst, err)
		}
	}
	return nil
}

// reopenConsole gives PID 1 a console when the kernel found no /dev/console
// in the initramfs and started it without fds 0-2.
func reopenConsole() *os.File {
	var st unix.Stat_t
	if unix.Fstat(1, &st) == nil {
		return nil
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil
	}
	for _, target := range []int{0, 1, 2} {
		_ = unix.Dup3(fd, target, 0)
	}
	if fd > 2 {
		unix.Close(fd)
	}
	return os.NewFile(1, "/dev/console")
}

// reap collects orphaned zombies on every SIGCHLD, and once a second for
// those a pending os/exec wait held back.
func reap(r *agent.Reaper) {
	sig := make(chan os.Signal, 16)
	signal.Notify(sig, unix.SIGCHLD)
	t := time.NewTicker(time.Second)
	for {
		select {
		case <-sig:
		case <-t.C:
		}
		r.Reap()
	}
}

func readCmdline() (agent.BootParams, error) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return agent.BootParams{}, fmt.Errorf("bmcinit: %w", err)
	}
	return agent.ParseCmdline(string(b))
}

// boot does everything up to Ready. api is set as soon as the controller is
// known so a later failure can be reported.
func boot(ctx context.Context, log *slog.Logger, apiOut **agent.API, reaper *agent.Reaper) (*agent.Server, proto.Config, *node, error) {
	var cfg proto.Config
	params, err := readCmdline()
	if err != nil {
		return nil, cfg, nil, err
	}
	_ = unix.Setenv("PATH", agent.DefaultPath)
	unix.Umask(0o022)

	if f, err := os.Open(ModulesList); err == nil {
		mods, perr := ParseModulesOrder(f)
		f.Close()
		if perr != nil {
			return nil, cfg, nil, perr
		}
		n := loadModules(log, ModulesDir, mods)
		log.Info("modules", "loaded", n, "listed", len(mods))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, cfg, nil, fmt.Errorf("bmcinit: %w", err)
	}
	if err := mountFstabFile(log, Fstab); err != nil {
		return nil, cfg, nil, err
	}

	// The DHCP library polls getrandom(GRND_NONBLOCK) in a busy loop until
	// the kernel's CRNG is seeded, which on an early-boot VM without
	// virtio-rng starved the guest for minutes. One blocking call makes the
	// kernel seed it from CPU jitter right away.
	t0 := Uptime()
	if _, err := unix.Getrandom(make([]byte, 16), 0); err != nil {
		log.Warn("getrandom", "err", err)
	}
	log.Info("entropy ready", "waited", (Uptime() - t0).String())

	lease, err := bringUpNetwork(ctx, log)
	if err != nil {
		return nil, cfg, nil, err
	}
	api := &agent.API{BaseURL: params.URL, Token: params.Token, HTTP: &http.Client{Timeout: 30 * time.Second}}
	*apiOut = api
	n := newNode(log, lease, api, reaper)

	cfg, err = fetchConfig(ctx, log, api)
	if err != nil {
		return nil, cfg, n, err
	}
	log.Info("config", "job", cfg.JobID, "node", cfg.Node, "rootfs_size", cfg.RootfsSize)
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			log.Warn("hostname not set", "err", err)
		}
	}
	progress(ctx, log, api, "network", lease.Addr.String())

	progress(ctx, log, api, "rootfs", fmt.Sprintf("%d bytes", cfg.RootfsSize))
	if err := fetchRootfs(ctx, log, api, cfg, lease); err != nil {
		return nil, cfg, n, err
	}

	progress(ctx, log, api, "sshd", fmt.Sprintf("port %d", cfg.SSHPort))
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, cfg, n, fmt.Errorf("bmcinit: host key: %w", err)
	}
	hostKey, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, cfg, n, fmt.Errorf("bmcinit: host key: %w", err)
	}
	srv, err := agent.NewServer(agent.ServerOptions{
		HostKey:       hostKey,
		AuthorizedKey: cfg.AuthorizedKey,
		// Each job runs in PID and mount namespaces of its own under a
		// job init that is bmcinit again (cmd/bmcinit dispatches on argv[0]).
		Runner:    agent.ExecRunner{Root: NewRoot, Chroot: true, Reaper: reaper, JobInit: "/proc/self/exe", Cmdline: CmdlineCopy},
		OutputDir: OutputDir,
		JobID:     cfg.JobID,
		PowerOff: func() {
			// Let the reply leave the machine before the NIC goes away.
			<-time.After(300 * time.Millisecond)
			powerOff(log)
		},
		Reset: n.reset,
		Kexec: n.kexec,
		Log:   log,
	})
	if err != nil {
		return nil, cfg, n, err
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.SSHPort))
	if err != nil {
		return nil, cfg, n, fmt.Errorf("bmcinit: ssh listen: %w", err)
	}
	go func() {
		if err := srv.Serve(ctx, ln); err != nil {
			log.Error("ssh server stopped", "err", err)
		}
	}()
	ready := proto.Ready{
		HostKey:   agent.AuthorizedKey(hostKey.PublicKey()),
		Addresses: []string{lease.Addr.IP.String()},
		SSHPort:   cfg.SSHPort,
		Uptime:    Uptime().Seconds(),
	}
	if err := retry(ctx, log, "ready", 30*time.Second, func(ctx context.Context) error { return api.Ready(ctx, ready) }); err != nil {
		return nil, cfg, n, err
	}
	log.Info("ready", "addr", lease.Addr.IP.String(), "port", cfg.SSHPort, "host_key", ssh.FingerprintSHA256(hostKey.PublicKey()))
	return srv, cfg, n, nil
}

func progress(ctx context.Context, log *slog.Logger, api *agent.API, phase, detail string) {
	log.Info("phase", "phase", phase, "detail", detail)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := api.Progress(ctx, proto.Progress{Phase: phase, Detail: detail, Uptime: Uptime().Seconds()}); err != nil {
		log.Warn("progress not delivered", "phase", phase, "err", err)
	}
}

// retry calls f until it succeeds or the budget is spent; the controller may
// restart while a node boots. A 4xx answer (bad token) is final.
func retry(ctx context.Context, log *slog.Logger, what string, budget time.Duration, f func(context.Context) error) error {
	return retryWith(ctx, log, what, budget, time.After, f)
}

// retryWith takes the timer so tests do not wait for backoff.
func retryWith(ctx context.Context, log *slog.Logger, what string, budget time.Duration, after func(time.Duration) <-chan time.Time, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	wait := 250 * time.Millisecond
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		var he *agent.HTTPError
		if errors.As(err, &he) && he.Permanent() {
			return err
		}
		log.Warn("retrying", "what", what, "err", err, "in", wait.String())
		select {
		case <-ctx.Done():
			return fmt.Errorf("bmcinit: %s: gave up after %s: %w", what, budget, err)
		case <-after(wait):
		}
		wait = min(2*wait, 4*time.Second)
	}
}

func fetchConfig(ctx context.Context, log *slog.Logger, api *agent.API) (proto.Config, error) {
	var cfg proto.Config
	err := retry(ctx, log, "config", 60*time.Second, func(ctx context.Context) error {
		c, err := api.Config(ctx)
		cfg = c
		return err
	})
	return cfg, err
}

func fetchRootfs(ctx context.Context, log *slog.Logger, api *agent.API, cfg proto.Config, lease Lease) error {
	if err := os.MkdirAll(NewRoot, 0o755); err != nil {
		return fmt.Errorf("bmcinit: mkdir %s: %w", NewRoot, err)
	}
	// Three quarters of RAM: a 256 MB lab node keeps room for the kernel,
	// this agent and the job.
	if err := unix.Mount("tmpfs", NewRoot, "tmpfs", 0, "mode=0755,size=75%"); err != nil {
		return fmt.Errorf("bmcinit: mount tmpfs on %s: %w", NewRoot, err)
	}
	start := time.Now()
	// A plain client: the download may take longer than a callback timeout.
	dl := &agent.API{BaseURL: api.BaseURL, Token: api.Token, HTTP: &http.Client{}}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	body, err := dl.Rootfs(dctx, cfg.RootfsURL)
	if err != nil {
		return fmt.Errorf("bmcinit: rootfs: %w", err)
	}
	st, err := agent.ExtractVerified(body, NewRoot, cfg.RootfsSize, cfg.RootfsDigest, agent.ExtractOptions{Chown: true, Devices: true})
	body.Close()
	if err != nil {
		return fmt.Errorf("bmcinit: rootfs: %w", err)
	}
	log.Info("rootfs extracted", "files", st.Files, "dirs", st.Dirs, "symlinks", st.Symlinks, "bytes", st.Bytes, "seconds", time.Since(start).Seconds())

	for _, d := range []string{"proc", "sys", "dev", "etc", "tmp"} {
		if err := agent.MkdirInRoot(NewRoot, d); err != nil {
			return fmt.Errorf("bmcinit: %w", err)
		}
	}
	type m struct {
		src, dst, fs string
		flags        uintptr
	}
	for _, mt := range []m{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"/dev", "/dev", "", unix.MS_BIND | unix.MS_REC},
	} {
		if err := unix.Mount(mt.src, NewRoot+mt.dst, mt.fs, mt.flags, ""); err != nil {
			return fmt.Errorf("bmcinit: mount %s in image: %w", mt.dst, err)
		}
	}
	if err := hideToken(); err != nil {
		return fmt.Errorf("bmcinit: %w", err)
	}
	if err := os.Chmod(NewRoot+"/tmp", 0o1777); err != nil {
		log.Warn("chmod /tmp", "err", err)
	}
	if err := agent.WriteFileInRoot(NewRoot, "etc/resolv.conf", []byte(ResolvConf(lease.DNS)), 0o644); err != nil {
		log.Warn("image resolv.conf not written", "err", err)
	}
	if cfg.Hostname != "" {
		if err := agent.WriteFileInRoot(NewRoot, "etc/hostname", []byte(cfg.Hostname+"\n"), 0o644); err != nil {
			log.Warn("image hostname not written", "err", err)
		}
	}
	return nil
}

// serve sends heartbeats until the controller powers the node off: every
// HeartbeatSeconds, and also at once when the job's command ends, so a
// node billed in-band has a RAPL reading at its run's end (the controller
// powers the node off right after; the start has the Ready heartbeat's).
// Not at the start: the boot before the first reading is extrapolated from
// the first two readings' rate, which wants them a heartbeat apart.
func serve(ctx context.Context, log *slog.Logger, n *node, srv *agent.Server, cfg proto.Config) {
	t := time.NewTicker(time.Duration(cfg.HeartbeatSeconds) * time.Second)
	defer t.Stop()
	poll := time.NewTicker(statusPoll)
	defer poll.Stop()
	failures := 0
	// The range is fixed by the hardware; read once.
	energyMax := ReadEnergy(RAPLMaxRange)
	for {
		running, code := srv.Status()
		hb := proto.Heartbeat{Uptime: Uptime().Seconds(), Running: running, ExitCode: code}
		hb.EnergyUJ, hb.EnergyMaxUJ = ReadRAPL(RAPLEnergy, energyMax)
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		// After a reset the callbacks carry the new job's token.
		err := n.callbacks().Heartbeat(hctx, hb)
		cancel()
		if err != nil {
			failures++
			// One line per failure would flood a serial console during a
			// long controller outage.
			if failures == 1 || failures%30 == 0 {
				log.Warn("heartbeat failed", "err", err, "failures", failures)
			}
		} else if failures > 0 {
			log.Info("heartbeat back", "after_failures", failures)
			failures = 0
		}
		waitBeat(t.C, poll.C, func() bool { r, _ := srv.Status(); return running && !r })
	}
}

// statusPoll is how often serve looks whether the job's command ended.
const statusPoll = 200 * time.Millisecond

// waitBeat returns at the next beat, or at a poll where changed says the
// job's command ended.
func waitBeat(beat, poll <-chan time.Time, changed func() bool) {
	for {
		select {
		case <-beat:
			return
		case <-poll:
			if changed() {
				return
			}
		}
	}
}

// ReadRAPL returns the energy_uj counter at path and the wrap range the
// heartbeat should carry with it: maxUJ (max_energy_range_uj), or nil when
// the machine has no counter or the range is unknown. A range of 0 would
// make every reading look like a wrap, so it counts as unknown.
func ReadRAPL(path string, maxUJ *uint64) (uj, rangeUJ *uint64) {
	uj = ReadEnergy(path)
	if uj == nil || maxUJ == nil || *maxUJ == 0 {
		return uj, nil
	}
	return uj, maxUJ
}

// ReadEnergy reads a RAPL energy_uj (or max_energy_range_uj) file; nil where
// the machine has none.
func ReadEnergy(path string) *uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return nil
	}
	return &v
}

// hideToken shows the job a /proc/cmdline without the boot's agent token:
// the job's output must not carry a credential, even one about to expire.
// The kernel's own file cannot change, so a copy without it is bind-mounted
// over the image's view.
func hideToken() error {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	clean := ScrubCmdline(string(b))
	if err := os.MkdirAll(OutputDir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(CmdlineCopy, []byte(clean), 0o444); err != nil {
		return err
	}
	if err := unix.Mount(CmdlineCopy, NewRoot+"/proc/cmdline", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("hide the boot token from the job: %w", err)
	}
	return nil
}

// ScrubCmdline drops the agent token parameter from a kernel command line.
func ScrubCmdline(cmdline string) string {
	f := strings.Fields(cmdline)
	out := f[:0]
	for _, p := range f {
		if !strings.HasPrefix(p, proto.ParamToken+"=") {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ") + "\n"
}
