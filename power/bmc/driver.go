// Package bmc owns bmc's drivers for real baseboard management controllers:
// power control on bmclib v2 (IPMI through ipmitool, Redfish through gofish,
// Intel AMT, and bmclib's rpc provider) and power meters beside it, since
// bmclib reads no power (IPMI DCMI, an IPMI SDR sensor, Redfish).
//
// Every call runs under its own timeout and is retried with exponential
// backoff, except when retrying cannot help (the BMC rejected the credentials,
// or does not support the request). Errors wrap the power package's sentinels
// so the controller can tell causes apart. The BMC password is read from the
// node's password file and never appears in a log line, an error, or a
// formatted driver.
package bmc

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	bmclib "github.com/bmc-toolbox/bmclib/v2"
	"github.com/bmc-toolbox/bmclib/v2/providers/intelamt"
	"github.com/bmc-toolbox/bmclib/v2/providers/ipmitool"
	"github.com/bmc-toolbox/bmclib/v2/providers/redfish"
	"github.com/bmc-toolbox/bmclib/v2/providers/rpc"

	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
)

// Defaults for Options.
const (
	DefaultCallTimeout       = 10 * time.Second
	DefaultRetries           = 3
	DefaultBackoff           = 200 * time.Millisecond
	DefaultOffConfirmTimeout = 30 * time.Second
	DefaultOffPollInterval   = 500 * time.Millisecond
)

// ClientFactory builds the bmclib client for one BMC. Tests pass one that
// plugs fake providers into bmclib's registrar (bmclib.WithRegistry); the
// default, NewClient, picks the real provider for cfg.Protocol.
type ClientFactory func(cfg node.BMC, password string) (*bmclib.Client, error)

// Sleeper waits d or until ctx ends. Tests inject one that returns at once.
type Sleeper func(ctx context.Context, d time.Duration) error

// ClockSleeper waits on clk.
func ClockSleeper(clk clock.Clock) Sleeper {
	return func(ctx context.Context, d time.Duration) error {
		select {
		case <-clk.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type options struct {
	factory           ClientFactory
	callTimeout       time.Duration
	retries           int
	backoff           time.Duration
	offConfirmTimeout time.Duration
	offPoll           time.Duration
	sleep             Sleeper
	log               *slog.Logger
	rootCAs           *x509.CertPool
	m                 meterOptions
}

func (o *options) meter() *meterOptions { return &o.m }

// Option tunes a driver or meter.
type Option func(*options)

// WithClientFactory replaces how the bmclib client is built.
func WithClientFactory(f ClientFactory) Option { return func(o *options) { o.factory = f } }

// WithCallTimeout bounds each single BMC call (default 10 s).
func WithCallTimeout(d time.Duration) Option { return func(o *options) { o.callTimeout = d } }

// WithRetries sets how many times a failed call is retried (default 3).
func WithRetries(n int) Option { return func(o *options) { o.retries = n } }

// WithBackoff sets the first retry delay; each next one doubles (default 200 ms).
func WithBackoff(d time.Duration) Option { return func(o *options) { o.backoff = d } }

// WithOffConfirmTimeout bounds how long PowerOff polls for the "off" state
// (default 30 s): BMCs switch off asynchronously.
func WithOffConfirmTimeout(d time.Duration) Option {
	return func(o *options) { o.offConfirmTimeout = d }
}

// WithOffPollInterval sets the delay between state polls after power off.
func WithOffPollInterval(d time.Duration) Option { return func(o *options) { o.offPoll = d } }

// WithSleeper replaces how the driver waits between retries and polls.
func WithSleeper(s Sleeper) Option { return func(o *options) { o.sleep = s } }

// WithClock makes the driver wait on clk between retries and polls.
func WithClock(clk clock.Clock) Option { return func(o *options) { o.sleep = ClockSleeper(clk) } }

// WithLogger sets the logger for retries and state changes.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRootCAs makes Redfish verify the BMC's certificate against pool (nil:
// the system pool) unless the node says insecure.
func WithRootCAs(pool *x509.CertPool) Option { return func(o *options) { o.rootCAs = pool } }

func buildOptions(opts []Option) options {
	o := options{
		callTimeout:       DefaultCallTimeout,
		retries:           DefaultRetries,
		backoff:           DefaultBackoff,
		offConfirmTimeout: DefaultOffConfirmTimeout,
		offPoll:           DefaultOffPollInterval,
		sleep:             ClockSleeper(clock.Real{}),
		log:               slog.New(slog.DiscardHandler),
	}
	for _, f := range opts {
		f(&o)
	}
	if o.retries < 0 {
		o.retries = 0
	}
	return o
}

// Driver is a power.Driver and power.BootDeviceSetter on a bmclib client.
// Safe for concurrent use; calls to one BMC are serialised.
type Driver struct {
	cfg      node.BMC
	password string // never printed: see String, Format, LogValue
	o        options

	mu     sync.Mutex
	client *bmclib.Client
	opened bool
}

var (
	_ power.Driver           = (*Driver)(nil)
	_ power.BootDeviceSetter = (*Driver)(nil)
	_ slog.LogValuer         = (*Driver)(nil)
	_ fmt.Formatter          = (*Driver)(nil)
)

// New returns the driver for cfg (protocol ipmi, redfish, amt or rpc). It reads
// the password from cfg.PasswordFile; it does not contact the BMC.
func New(cfg node.BMC, opts ...Option) (*Driver, error) {
	switch cfg.Protocol {
	case "ipmi", "redfish", "amt", "rpc":
	default:
		return nil, fmt.Errorf("bmc %s: protocol %q: %w", target(cfg), cfg.Protocol, power.ErrUnsupported)
	}
	if cfg.Address == "" {
		return nil, fmt.Errorf("bmc %s: no address", cfg.Protocol)
	}
	pass, err := ReadPassword(cfg.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("bmc %s: %w", target(cfg), err)
	}
	d := &Driver{cfg: cfg, password: pass, o: buildOptions(opts)}
	factory := d.o.factory
	if factory == nil {
		factory = func(cfg node.BMC, pass string) (*bmclib.Client, error) { return newClient(cfg, pass, d.o.rootCAs) }
	}
	client, err := factory(cfg, pass)
	if err != nil {
		return nil, fmt.Errorf("bmc %s: build client: %s", d, scrub(err.Error(), pass))
	}
	d.client = client
	return d, nil
}

// NewClient is the default ClientFactory: a bmclib client limited to the one
// provider that speaks cfg.Protocol, so bmclib does not probe the others.
func NewClient(cfg node.BMC, password string) (*bmclib.Client, error) {
	return newClient(cfg, password, nil)
}

func newClient(cfg node.BMC, password string, rootCAs *x509.CertPool) (*bmclib.Client, error) {
	var (
		opts     []bmclib.Option
		provider string
		host     = cfg.Address
	)
	switch cfg.Protocol {
	case "ipmi":
		provider = ipmitool.ProviderName
		opts = append(opts, bmclib.WithIpmitoolPort(strconv.Itoa(portOr(cfg.Port, 623))))
		if cfg.CipherSuite != "" {
			opts = append(opts, bmclib.WithIpmitoolCipherSuite(cfg.CipherSuite))
		}
	case "redfish":
		provider = redfish.ProviderName
		opts = append(opts, bmclib.WithRedfishPort(strconv.Itoa(portOr(cfg.Port, 443))))
		if !cfg.Insecure {
			opts = append(opts, bmclib.WithSecureTLS(rootCAs))
		}
	case "amt":
		provider = intelamt.ProviderName
		opts = append(opts, bmclib.WithIntelAMTPort(uint32(portOr(cfg.Port, 16992))))
	case "rpc":
		// Address is the rpc consumer's URL; the password file holds the HMAC secret.
		provider = rpc.ProviderName
		opts = append(opts, bmclib.WithRPCOpt(rpc.Provider{
			ConsumerURL: cfg.Address,
			Opts:        rpc.Opts{HMAC: rpc.HMACOpts{Secrets: rpc.Secrets{rpc.SHA256: {password}}}},
		}))
	default:
		return nil, fmt.Errorf("protocol %q: %w", cfg.Protocol, power.ErrUnsupported)
	}
	c := bmclib.NewClient(host, cfg.User, password, opts...)
	c.Registry.Drivers = c.Registry.For(provider)
	if len(c.Registry.Drivers) == 0 {
		return nil, fmt.Errorf("bmclib has no %s provider", provider)
	}
	return c, nil
}

func portOr(p, def int) int {
	if p > 0 {
		return p
	}
	return def
}

func target(cfg node.BMC) string {
	t := cfg.Address
	if cfg.Port > 0 {
		t += ":" + strconv.Itoa(cfg.Port)
	}
	if cfg.User != "" {
		t = cfg.User + "@" + t
	}
	return cfg.Protocol + " " + t
}

// String names the BMC without its password.
func (d *Driver) String() string { return target(d.cfg) }

// Format prints String for every verb, so %+v and %#v cannot leak the password.
func (d *Driver) Format(f fmt.State, _ rune) { fmt.Fprint(f, d.String()) }

// LogValue logs the BMC without its password.
func (d *Driver) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("protocol", d.cfg.Protocol),
		slog.String("address", d.cfg.Address),
		slog.Int("port", d.cfg.Port),
		slog.String("user", d.cfg.User),
	)
}

// PowerOn switches the machine on; on when on is fine.
func (d *Driver) PowerOn(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.retry(ctx, "power on", func(ctx context.Context) error {
		ok, err := d.client.SetPowerState(ctx, "on")
		if err == nil && !ok {
			err = errors.New("BMC did not confirm power on")
		}
		return err
	})
}

// PowerOff switches the machine off hard and returns once the BMC reports it
// off (BMCs switch off asynchronously), or fails with ErrTimeout after the
// off-confirm timeout. Off when off is fine.
func (d *Driver) PowerOff(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, err := d.state(ctx)
	if err != nil {
		return err
	}
	if st == power.Off {
		return nil
	}
	err = d.retry(ctx, "power off", func(ctx context.Context) error {
		ok, err := d.client.SetPowerState(ctx, "off")
		if err == nil && !ok {
			err = errors.New("BMC did not confirm power off")
		}
		return err
	})
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, d.o.offConfirmTimeout)
	defer cancel()
	for {
		st, err := d.state(cctx)
		switch {
		case err == nil && st == power.Off:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case cctx.Err() != nil:
			return fmt.Errorf("bmc %s: power off: not off after %s: %w", d, d.o.offConfirmTimeout, power.ErrTimeout)
		case err != nil && !errors.Is(err, power.ErrTimeout) && !errors.Is(err, power.ErrUnreachable):
			return err
		}
		_ = d.o.sleep(cctx, d.o.offPoll) // an early wake-up is handled by the checks above
	}
}

// PowerState reads the power state.
func (d *Driver) PowerState(ctx context.Context) (power.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state(ctx)
}

func (d *Driver) state(ctx context.Context) (power.State, error) {
	st := power.Unknown
	err := d.retry(ctx, "power state", func(ctx context.Context) error {
		raw, err := d.client.GetPowerState(ctx)
		if err != nil {
			return err
		}
		s, ok := ParsePowerState(raw)
		if !ok {
			return fmt.Errorf("unrecognised power state %q", raw)
		}
		st = s
		return nil
	})
	return st, err
}

// SetNextBootNetwork asks for a PXE boot on the next power on (not
// persistent). A BMC that cannot fails with an error wrapping
// power.ErrUnsupported, which callers may treat as non-fatal.
func (d *Driver) SetNextBootNetwork(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.retry(ctx, "set boot device pxe", func(ctx context.Context) error {
		ok, err := d.client.SetBootDevice(ctx, "pxe", false, false)
		if err == nil && !ok {
			err = errors.New("BMC did not confirm the boot device")
		}
		return err
	})
}

// Close ends the BMC session, if one was opened.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.opened {
		return nil
	}
	d.opened = false
	ctx, cancel := context.WithTimeout(context.Background(), d.o.callTimeout)
	defer cancel()
	if err := d.client.Close(ctx); err != nil {
		return wrapErr(d.String(), d.password, "close", classify(ctx, err, d.password), err)
	}
	return nil
}

// retry runs op, opening the session first when needed.
func (d *Driver) retry(ctx context.Context, what string, op func(context.Context) error) error {
	return retry(ctx, &d.o, d.String(), d.password, what, func(ctx context.Context) (error, error) {
		return d.attempt(ctx, op)
	})
}

// retry runs attempt, each try under its own timeout, with exponential
// backoff between tries. Failures that retrying cannot fix (credentials,
// unsupported) end it at once. attempt returns the failure's sentinel (or nil
// when unknown) and the failure.
func retry(ctx context.Context, o *options, label, password, what string, attempt func(context.Context) (error, error)) error {
	var last error
	for try := 0; ; try++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bmc %s: %s: %w", label, what, err)
		}
		kind, err := attempt(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("bmc %s: %s: %w", label, what, ctx.Err())
		}
		last = wrapErr(label, password, what, kind, err)
		if errors.Is(kind, power.ErrAuth) || errors.Is(kind, power.ErrUnsupported) || try >= o.retries {
			return last
		}
		delay := o.backoff << try
		o.log.Warn("BMC call failed, retrying", "bmc", label, "op", what, "attempt", try+1, "delay", delay, "err", last)
		if err := o.sleep(ctx, delay); err != nil {
			return last
		}
	}
}

func (d *Driver) attempt(ctx context.Context, op func(context.Context) error) (error, error) {
	fresh := !d.opened
	if fresh {
		octx, cancel := context.WithTimeout(ctx, d.o.callTimeout)
		err := d.client.Open(octx)
		kind := classify(octx, err, d.password)
		cancel()
		if err != nil {
			return kind, err
		}
		d.opened = true
	}
	cctx, cancel := context.WithTimeout(ctx, d.o.callTimeout)
	defer cancel()
	if err := op(cctx); err != nil {
		kind := classify(cctx, err, d.password)
		if errors.Is(kind, power.ErrAuth) && !fresh {
			// A session that worked before has expired: open a new one on
			// the next try rather than calling the credentials wrong.
			d.opened = false
			return nil, err
		}
		if errors.Is(kind, power.ErrAuth) || errors.Is(kind, power.ErrUnreachable) || errors.Is(kind, power.ErrTimeout) {
			// A session that broke must be opened again on the next attempt.
			d.opened = false
		}
		return kind, err
	}
	return nil, nil
}

// wrapErr builds the error the caller sees: the sentinel for errors.Is and
// the BMC's text with the password scrubbed. The original error is not kept
// in the chain because its text may carry the password.
func wrapErr(label, password, what string, kind, err error) error {
	msg := scrub(oneLine(err.Error()), password)
	if kind == nil {
		return fmt.Errorf("bmc %s: %s: %s", label, what, msg)
	}
	return fmt.Errorf("bmc %s: %s: %w: %s", label, what, kind, msg)
}

// oneLine folds bmclib's multi-line multierror text.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
