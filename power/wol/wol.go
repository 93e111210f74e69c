// Package wol owns the Wake-on-LAN power driver, for machines without a BMC:
// power on is a magic packet sent over UDP, power off is done in-band (the
// controller asks the node agent), and the power state is what the
// controller knows of the agent's liveness. A machine woken that never
// answers within the wake timeout is reported with ErrNoAnswer, so the
// controller can mark it DOWN.
package wol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
)

// DefaultPort is the discard port, where Wake-on-LAN is usually sent.
const DefaultPort = 9

// DefaultWakeTimeout is how long a woken machine may take to answer.
const DefaultWakeTimeout = 5 * time.Minute

// ErrNoAnswer says a machine was woken but never answered within the wake
// timeout. Errors carrying it also wrap power.ErrUnreachable.
var ErrNoAnswer = errors.New("machine woken by Wake-on-LAN never answered")

// MagicPacket is the Wake-on-LAN payload for mac: six 0xFF bytes, then the
// 6-byte MAC sixteen times (102 bytes). Written here because no
// Wake-on-LAN module (e.g. mdlayher/wol) is in the module set we may use.
func MagicPacket(mac net.HardwareAddr) ([]byte, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("wake-on-lan needs a 6-byte MAC, got %d bytes", len(mac))
	}
	p := make([]byte, 0, 6+16*6)
	for range 6 {
		p = append(p, 0xff)
	}
	for range 16 {
		p = append(p, mac...)
	}
	return p, nil
}

// Hooks are what the controller lends the driver.
type Hooks struct {
	// Alive reports whether the node agent answers (its heartbeats are fresh).
	Alive func(ctx context.Context) (bool, error)
	// PowerOff shuts the machine down in-band through the agent. Nil makes
	// PowerOff fail with power.ErrUnsupported.
	PowerOff func(ctx context.Context) error
}

// Option tunes New.
type Option func(*Driver)

// WithClock sets the clock that times the wake timeout.
func WithClock(c clock.Clock) Option { return func(d *Driver) { d.clk = c } }

// WithWakeTimeout sets how long a woken machine may stay silent.
func WithWakeTimeout(t time.Duration) Option { return func(d *Driver) { d.wakeTimeout = t } }

// WithRepeat sets how many magic packets one PowerOn sends (UDP may drop
// one; default 3).
func WithRepeat(n int) Option { return func(d *Driver) { d.repeat = max(n, 1) } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(d *Driver) { d.log = l } }

// Driver is a power.Driver over Wake-on-LAN. Safe for concurrent use.
type Driver struct {
	mac         net.HardwareAddr
	addr        string // host:port the packet goes to
	hooks       Hooks
	clk         clock.Clock
	wakeTimeout time.Duration
	repeat      int
	log         *slog.Logger

	mu     sync.Mutex
	wokeAt time.Time // last wake not yet answered; zero when none pending
	off    bool      // switched off in-band since the last wake
}

var _ power.Driver = (*Driver)(nil)

// New returns the driver for the machine with mac, sending to cfg.Address
// (a broadcast address, or a host) on cfg.Port (default 9).
func New(cfg node.BMC, mac string, h Hooks, opts ...Option) (*Driver, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return nil, fmt.Errorf("wol: %w", err)
	}
	if len(hw) != 6 {
		return nil, fmt.Errorf("wol: MAC %s is not 6 bytes", mac)
	}
	if cfg.Address == "" {
		return nil, errors.New("wol: no broadcast address")
	}
	if h.Alive == nil {
		return nil, errors.New("wol: no liveness probe")
	}
	port := cfg.Port
	if port == 0 {
		port = DefaultPort
	}
	d := &Driver{
		mac: hw, addr: net.JoinHostPort(cfg.Address, strconv.Itoa(port)), hooks: h,
		clk: clock.Real{}, wakeTimeout: DefaultWakeTimeout, repeat: 3,
		log: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(d)
	}
	return d, nil
}

// String names the driver.
func (d *Driver) String() string { return "wol " + d.mac.String() + " via " + d.addr }

// PowerOn sends the magic packet unless the machine already answers.
func (d *Driver) PowerOn(ctx context.Context) error {
	alive, err := d.hooks.Alive(ctx)
	if err != nil {
		return fmt.Errorf("%s: liveness: %w", d, err)
	}
	if alive {
		return nil
	}
	if err := d.send(ctx); err != nil {
		return err
	}
	d.mu.Lock()
	d.wokeAt, d.off = d.clk.Now(), false
	d.mu.Unlock()
	d.log.Info("wake-on-lan packet sent", "mac", d.mac.String(), "to", d.addr, "count", d.repeat)
	return nil
}

func (d *Driver) send(ctx context.Context) error {
	pkt, err := MagicPacket(d.mac)
	if err != nil {
		return err
	}
	// SO_BROADCAST, or the kernel refuses a broadcast destination.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := lc.ListenPacket(ctx, "udp4", ":0")
	if err != nil {
		return fmt.Errorf("%s: %w: %w", d, power.ErrUnreachable, err)
	}
	defer conn.Close()
	to, err := net.ResolveUDPAddr("udp4", d.addr)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", d, power.ErrUnreachable, err)
	}
	for range d.repeat {
		if _, err := conn.WriteTo(pkt, to); err != nil {
			return fmt.Errorf("%s: send: %w: %w", d, power.ErrUnreachable, err)
		}
	}
	return nil
}

// PowerOff shuts the machine down through the in-band hook.
func (d *Driver) PowerOff(ctx context.Context) error {
	if d.hooks.PowerOff == nil {
		return fmt.Errorf("%s: power off needs the node agent: %w", d, power.ErrUnsupported)
	}
	alive, err := d.hooks.Alive(ctx)
	if err != nil {
		return fmt.Errorf("%s: liveness: %w", d, err)
	}
	if !alive {
		d.mu.Lock()
		d.wokeAt, d.off = time.Time{}, true
		d.mu.Unlock()
		return nil
	}
	if err := d.hooks.PowerOff(ctx); err != nil {
		return fmt.Errorf("%s: in-band power off: %w", d, err)
	}
	d.mu.Lock()
	d.wokeAt, d.off = time.Time{}, true
	d.mu.Unlock()
	return nil
}

// PowerState is On while the agent answers or a wake is fresh, Off after an
// in-band power off or when nothing answers and no wake is pending, and an
// error wrapping ErrNoAnswer (and power.ErrUnreachable) when a woken machine
// stayed silent past the wake timeout.
func (d *Driver) PowerState(ctx context.Context) (power.State, error) {
	alive, err := d.hooks.Alive(ctx)
	if err != nil {
		return power.Unknown, fmt.Errorf("%s: liveness: %w", d, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case alive && d.off:
		// The agent still heartbeats after the in-band off: it is going down.
		return power.On, nil
	case alive:
		d.wokeAt = time.Time{}
		return power.On, nil
	case d.wokeAt.IsZero():
		return power.Off, nil
	}
	if waited := d.clk.Now().Sub(d.wokeAt); waited >= d.wakeTimeout {
		return power.Unknown, fmt.Errorf("%s: woken %s ago: %w: %w", d, waited.Round(time.Second), ErrNoAnswer, power.ErrUnreachable)
	}
	return power.On, nil // woken, still booting
}

// Close releases nothing.
func (d *Driver) Close() error { return nil }
