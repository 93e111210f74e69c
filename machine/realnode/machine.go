package realnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bmc-sched/bmc/agent"
	"github.com/bmc-sched/bmc/agent/proto"
	"github.com/bmc-sched/bmc/boot"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/internal/userfs"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
)

var (
	_ machine.Machine    = (*Machine)(nil)
	_ machine.Contact    = (*Machine)(nil)
	_ machine.Metered    = (*Machine)(nil)
	_ machine.BootFacter = (*Machine)(nil)
	_ machine.Pinner     = (*session)(nil)
	_ machine.Reuser     = (*session)(nil)
)

// Machine boots a real (or lab) machine: power through its BMC driver,
// network boot through the boot server, the command through the node agent
// over SSH with a per-job key and a pinned host key.
type Machine struct {
	cfg    node.Config
	drv    power.Driver
	boots  *boot.Server
	hub    *AgentHub
	keyDir string
	clk    clock.Clock
	log    *slog.Logger
	meter  power.Meter // set by SetMeter; else the driver's, if it reads power

	factsMu sync.Mutex
	facts   map[uint64]bootFacts // by job: what Prepare resolved
}

type bootFacts struct {
	digest, kernel string
	boot           *boot.Boot // for a reset or kexec into it (reuse.go)
}

// BootFacts returns the image digest and kernel name Prepare resolved for j.
func (m *Machine) BootFacts(j *job.Job) (imageDigest, kernel string) {
	m.factsMu.Lock()
	defer m.factsMu.Unlock()
	f := m.facts[j.ID]
	return f.digest, f.kernel
}

// New wires one node. keyDir holds the per-job SSH keys (0700).
func New(cfg node.Config, drv power.Driver, boots *boot.Server, hub *AgentHub, keyDir string, clk clock.Clock, log *slog.Logger) *Machine {
	return &Machine{cfg: cfg, drv: drv, boots: boots, hub: hub, keyDir: keyDir, clk: clk, log: log.With("node", cfg.Name)}
}

// PowerOn first resets what the node's last boot left open on the node
// listener (see boot.Server.ResetIdleConns), so the firmware's first
// fetches cannot collide with it.
func (m *Machine) PowerOn(ctx context.Context) error {
	if n := m.boots.ResetIdleConns(m.cfg.Address); n > 0 {
		m.log.Info("reset the last boot's idle connections before power-on", "address", m.cfg.Address, "connections", n)
	}
	return m.drv.PowerOn(ctx)
}

func (m *Machine) PowerOff(ctx context.Context) error { return m.drv.PowerOff(ctx) }
func (m *Machine) PowerState(ctx context.Context) (power.State, error) {
	return m.drv.PowerState(ctx)
}
func (m *Machine) Close() error { return m.drv.Close() }

// LastContact is when the node agent of j's boot last sent a heartbeat.
func (m *Machine) LastContact(j *job.Job) time.Time { return m.hub.lastBeat(j.ID, j.Boot) }
func (m *Machine) Simulated() bool                  { return false }

// SetMeter gives the node the power meter its BMC offers beside the driver
// (bmclib reads no power). Call it before the controller starts.
func (m *Machine) SetMeter(pm power.Meter) { m.meter = pm }

// HasMeter reports whether the node's power can be read out of band (a
// meter set by SetMeter, or a driver that reads power); without one its
// bill comes from the agent's RAPL counter, if the machine has one.
func (m *Machine) HasMeter() bool {
	if m.meter != nil {
		return true
	}
	_, ok := m.drv.(power.Meter)
	return ok
}

var _ power.DatedMeter = (*Machine)(nil)

// Latency is how far before its read the meter dates a reading
// (power.DatedMeter: a BMC's mean over a window, published late); 0 when
// its readings are dated as read.
func (m *Machine) Latency() time.Duration {
	if dm, ok := m.meter.(power.DatedMeter); ok {
		return dm.Latency()
	}
	return 0
}

// Window is the span one of the meter's readings averages; 0 when its
// readings are instants.
func (m *Machine) Window() time.Duration {
	if dm, ok := m.meter.(power.DatedMeter); ok {
		return dm.Window()
	}
	return 0
}

// PowerReading reads the node's power from its meter, or its driver when
// that can.
func (m *Machine) PowerReading(ctx context.Context) (power.Reading, error) {
	if m.meter != nil {
		return m.meter.PowerReading(ctx)
	}
	if pm, ok := m.drv.(power.Meter); ok {
		return pm.PowerReading(ctx)
	}
	return power.Reading{}, power.ErrUnsupported
}

func (m *Machine) keyPath(id uint64) string {
	return filepath.Join(m.keyDir, strconv.FormatUint(id, 10)+".key")
}

// jobKey returns the job's SSH key, made on first use and kept on disk
// (0600) so a restarted controller can reconnect to the running command.
func (m *Machine) jobKey(id uint64) (ssh.Signer, string, error) {
	if pem, err := os.ReadFile(m.keyPath(id)); err == nil {
		s, err := agent.ParseJobKey(pem)
		if err != nil {
			return nil, "", fmt.Errorf("job key: %w", err)
		}
		return s, agent.AuthorizedKey(s.PublicKey()), nil
	}
	s, pem, auth, err := agent.NewJobKey()
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(m.keyDir, 0o700); err != nil {
		return nil, "", err
	}
	tmp := m.keyPath(id) + ".tmp"
	if err := os.WriteFile(tmp, pem, 0o600); err != nil {
		return nil, "", err
	}
	if err := os.Rename(tmp, m.keyPath(id)); err != nil {
		return nil, "", err
	}
	return s, auth, nil
}

// Prepare builds the boot: kernel, initrd with the agent, image root, tokens.
func (m *Machine) Prepare(ctx context.Context, j *job.Job) error {
	_, auth, err := m.jobKey(j.ID)
	if err != nil {
		return err
	}
	b, err := m.boots.Prepare(ctx, boot.Request{
		JobID: j.ID, Boot: j.Boot, Node: m.cfg.Name, MAC: m.cfg.MAC, Address: m.cfg.Address, Arch: m.cfg.Arch, Loader: m.cfg.Boot,
		Kernel: j.Spec.Kernel, Initrd: j.Spec.Initrd, Cmdline: j.Spec.Cmdline, Image: j.Spec.Image, AuthorizedKey: auth,
		ImageDigest: j.Spec.ImageDigest, Owner: userfs.Lookup(j.UID, j.GID),
	})
	if err != nil {
		for _, jobFault := range []error{boot.ErrImage, boot.ErrUnknownKernel, boot.ErrForbiddenPath, boot.ErrCmdline,
			boot.ErrArch, boot.ErrTooLarge, boot.ErrDownload, boot.ErrBadRequest} {
			if errors.Is(err, jobFault) {
				return fmt.Errorf("%w: %w", machine.ErrJobInput, err)
			}
		}
		return err
	}
	if err := m.keepAgentKey(j, b); err != nil {
		m.boots.Finish(j.ID)
		return err
	}
	m.factsMu.Lock()
	if m.facts == nil {
		m.facts = map[uint64]bootFacts{}
	}
	m.facts[j.ID] = bootFacts{digest: b.Rootfs.Digest, kernel: b.KernelName, boot: b}
	m.factsMu.Unlock()
	m.hub.watch(j.ID, j.Boot)
	if bs, ok := m.drv.(power.BootDeviceSetter); ok {
		if err := bs.SetNextBootNetwork(ctx); err != nil && !errors.Is(err, power.ErrUnsupported) {
			m.log.Warn("could not ask the BMC for a network boot; relying on the boot order", "err", err)
		}
	}
	return nil
}

// WaitReady waits for the agent's Ready callback, then connects to it.
func (m *Machine) WaitReady(ctx context.Context, j *job.Job) (machine.Session, error) {
	w := m.hub.watch(j.ID, j.Boot)
	var r proto.Ready
	select {
	case r = <-w.ready:
	case ev := <-w.aborted:
		return nil, fmt.Errorf("%w: %s", machine.ErrBootAborted, ev)
	case msg := <-w.failed:
		return nil, fmt.Errorf("%w: node agent: %s", machine.ErrBootFailed, msg)
	case <-ctx.Done():
		p, _ := m.boots.BootProgress(j.ID, j.Boot)
		m.hub.mu.Lock()
		phase := w.phase
		m.hub.mu.Unlock()
		switch {
		case !p.ScriptServed && !p.KernelServed:
			return nil, fmt.Errorf("%w: it never fetched its boot script (%w)", machine.ErrNoSignOfLife, context.Cause(ctx))
		case !p.KernelServed:
			return nil, fmt.Errorf("%w: it fetched its boot script but not the kernel (%w)", machine.ErrNoSignOfLife, context.Cause(ctx))
		case phase == "":
			return nil, fmt.Errorf("%w: the kernel started but the node agent never called (%w)", machine.ErrBootFailed, context.Cause(ctx))
		default:
			return nil, fmt.Errorf("%w: the node agent stopped at %q (%w)", machine.ErrBootFailed, phase, context.Cause(ctx))
		}
	}
	hostKey, err := agent.ParseHostKey(r.HostKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", machine.ErrBootFailed, err)
	}
	addr, err := m.sshAddress()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", machine.ErrBootFailed, err)
	}
	// A conflict while the dial goes on (a second Ready, the node's own
	// script fetch after a neighbour's) stops the boot before the job's
	// command goes anywhere.
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case ev := <-w.aborted:
			cancel(fmt.Errorf("%w: %s", machine.ErrBootAborted, ev))
		case <-done:
		}
	}()
	sess, err := m.connect(cctx, j, r.HostKey, addr, hostKey, 20)
	close(done)
	<-exited
	abort := context.Cause(cctx)
	if !errors.Is(abort, machine.ErrBootAborted) {
		select {
		case ev := <-w.aborted:
			abort = fmt.Errorf("%w: %s", machine.ErrBootAborted, ev)
		default:
		}
	}
	if errors.Is(abort, machine.ErrBootAborted) {
		if sess != nil {
			sess.Close()
		}
		return nil, abort
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", machine.ErrBootFailed, err)
	}
	return sess, nil
}

// sshAddress is where the node's SSH server is: the nodes file's
// ssh_address, else its address on port SSHPort the agent was told. Never
// an address a message names: a neighbour could name itself.
func (m *Machine) sshAddress() (string, error) {
	if m.cfg.SSHAddress != "" {
		return m.cfg.SSHAddress, nil
	}
	if !m.cfg.Address.IsValid() {
		return "", fmt.Errorf("node %s has neither address nor ssh_address in the nodes file", m.cfg.Name)
	}
	return net.JoinHostPort(m.cfg.Address.String(), strconv.Itoa(m.boots.SSHPort())), nil
}

// connect dials the agent, retrying briefly: a port forward or the agent's
// listener may lag its Ready by a moment.
func (m *Machine) connect(ctx context.Context, j *job.Job, hostKeyText, addr string, hostKey ssh.PublicKey, tries int) (*session, error) {
	signer, _, err := m.jobKey(j.ID)
	if err != nil {
		return nil, err
	}
	wait := 100 * time.Millisecond
	for i := 0; ; i++ {
		c, err := agent.Dial(ctx, addr, hostKey, signer)
		if err == nil {
			return &session{m: m, c: c, addr: addr, hostKey: hostKeyText, key: hostKey, job: j}, nil
		}
		if i+1 >= tries || ctx.Err() != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-m.clk.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Resume reconnects to a job's agent with the host key pinned at boot.
func (m *Machine) Resume(ctx context.Context, j *job.Job) (machine.Session, error) {
	if j.HostKey == "" || j.SSHAddr == "" {
		return nil, fmt.Errorf("%w: no pinned host key for job %d", machine.ErrLost, j.ID)
	}
	hostKey, err := agent.ParseHostKey(j.HostKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", machine.ErrLost, err)
	}
	s, err := m.connect(ctx, j, j.HostKey, j.SSHAddr, hostKey, 5)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", machine.ErrLost, err)
	}
	s.resumed = true
	m.adoptAgent(j)
	return s, nil
}

// Finish revokes the boot's tokens and deletes the job's key.
func (m *Machine) Finish(j *job.Job) {
	m.boots.Finish(j.ID)
	m.hub.forget(j.ID)
	m.factsMu.Lock()
	delete(m.facts, j.ID)
	m.factsMu.Unlock()
	os.Remove(m.keyPath(j.ID))
	os.Remove(m.agentKeyPath(j.ID))
}
