package bmc

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/stmcginnis/gofish"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
)

// Runner runs ipmitool with args and the given environment and returns its
// standard output; a failure's error carries the combined output. Tests
// replace it to check the command line.
type Runner func(ctx context.Context, env []string, args ...string) ([]byte, error)

// ExecRunner runs the ipmitool found in PATH.
func ExecRunner(ctx context.Context, env []string, args ...string) ([]byte, error) {
	path, err := exec.LookPath("ipmitool")
	if err != nil {
		return nil, fmt.Errorf("ipmitool not installed (apt-get install -y ipmitool): %w", err)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%w: %s %s", err, strings.TrimSpace(stderr.String()), strings.TrimSpace(stdout.String()))
	}
	return stdout.Bytes(), nil
}

// meterOptions are the Options only meters use.
type meterOptions struct {
	run   Runner
	clk   clock.Clock
	httpc *http.Client
}

// WithRunner replaces how ipmitool is run.
func WithRunner(r Runner) Option {
	return func(o *options) { o.meter().run = r }
}

// WithMeterClock stamps readings with clk (default the wall clock).
func WithMeterClock(clk clock.Clock) Option {
	return func(o *options) { o.meter().clk = clk }
}

// WithHTTPClient sets the HTTP client of the Redfish meter.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) { o.meter().httpc = c }
}

// NewMeter returns the power meter cfg describes: for protocol ipmi an SDR
// sensor when cfg.PowerSensor names one, else the DCMI power reading; for
// protocol redfish the chassis power over gofish. Other protocols, and
// cfg.PowerMeter "none", read no power (ErrUnsupported). It reads the
// password from cfg.PasswordFile. Readings are dated by cfg's PowerWindow,
// PowerPeriod and PowerLag (dating.go).
func NewMeter(cfg node.BMC, opts ...Option) (power.Meter, error) {
	o := buildOptions(opts)
	m := o.meter()
	if m.run == nil {
		m.run = ExecRunner
	}
	if m.clk == nil {
		m.clk = clock.Real{}
	}
	if m.httpc == nil && o.rootCAs != nil && !cfg.Insecure {
		m.httpc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: o.rootCAs}}}
	}
	if cfg.Address == "" {
		return nil, fmt.Errorf("bmc meter %s: no address", cfg.Protocol)
	}
	pass, err := ReadPassword(cfg.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("bmc meter %s: %w", target(cfg), err)
	}
	if cfg.PowerMeter == node.MeterNone {
		return nil, fmt.Errorf("bmc meter %s: power_meter = %q: %w", target(cfg), cfg.PowerMeter, power.ErrUnsupported)
	}
	switch {
	case cfg.Protocol == "redfish":
		return &RedfishMeter{cfg: cfg, password: pass, o: o, clock: newReadingClock(cfg)}, nil
	case cfg.Protocol == "ipmi":
		im := &IPMIMeter{cfg: cfg, password: pass, o: o, sensor: cfg.PowerSensor, clock: newReadingClock(cfg)}
		return im, nil
	}
	return nil, fmt.Errorf("bmc meter %s: protocol %q reads no power: %w", target(cfg), cfg.Protocol, power.ErrUnsupported)
}

// IPMIMeter reads watts over IPMI with ipmitool: an SDR sensor by name when
// one is set, else the DCMI power reading. The password travels in the
// environment (ipmitool -E), never in the command line.
type IPMIMeter struct {
	cfg      node.BMC
	password string
	sensor   string
	o        options
	clock    *readingClock
}

var _ power.DatedMeter = (*IPMIMeter)(nil)

// String names the meter without its password.
func (m *IPMIMeter) String() string {
	if m.sensor != "" {
		return target(m.cfg) + " sensor " + strconv.Quote(m.sensor)
	}
	return target(m.cfg) + " dcmi"
}

// Format prints String for every verb.
func (m *IPMIMeter) Format(f fmt.State, _ rune) { fmt.Fprint(f, m.String()) }

// LogValue logs the meter without its password.
func (m *IPMIMeter) LogValue() slog.Value { return slog.StringValue(m.String()) }

// Args is ipmitool's command line for one reading (without the password).
func (m *IPMIMeter) Args() []string {
	args := []string{"-I", "lanplus", "-H", m.cfg.Address, "-p", strconv.Itoa(portOr(m.cfg.Port, 623)),
		"-U", m.cfg.User, "-E"}
	if m.cfg.CipherSuite != "" {
		args = append(args, "-C", m.cfg.CipherSuite)
	}
	// One try per exec with a short wait: our own retry loop does the rest
	// under the call timeout.
	args = append(args, "-N", "2", "-R", "1")
	if m.sensor != "" {
		return append(args, "sdr", "get", m.sensor)
	}
	return append(args, "dcmi", "power", "reading")
}

// PowerReading returns the instantaneous watts.
func (m *IPMIMeter) PowerReading(ctx context.Context) (power.Reading, error) {
	var watts float64
	var rd read
	env := []string{"IPMI_PASSWORD=" + m.password}
	what := "dcmi power reading"
	if m.sensor != "" {
		what = "sdr get " + m.sensor
	}
	err := retry(ctx, &m.o, m.String(), m.password, what, func(ctx context.Context) (error, error) {
		cctx, cancel := context.WithTimeout(ctx, m.o.callTimeout)
		defer cancel()
		rd.start = m.o.meter().clk.Now()
		out, err := m.o.meter().run(cctx, env, m.Args()...)
		rd.end = m.o.meter().clk.Now()
		if err != nil {
			return classify(cctx, err, m.password), err
		}
		if m.sensor != "" {
			watts, err = ParseSDRGet(string(out))
		} else {
			watts, err = ParseDCMIPowerReading(string(out))
		}
		if err != nil {
			if errors.Is(err, power.ErrUnsupported) {
				return power.ErrUnsupported, err
			}
			// ipmitool exits 0 for a sensor it cannot find: say what it said.
			return classifyText(string(out)), fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
		}
		return nil, nil
	})
	if err != nil {
		return power.Reading{}, err
	}
	rd.watts = watts
	return power.Reading{Time: m.clock.date(rd), Watts: watts}, nil
}

// Latency is how far at most a reading's date lies before its read.
func (m *IPMIMeter) Latency() time.Duration { return m.clock.Latency() }

// Window is the span one reading averages.
func (m *IPMIMeter) Window() time.Duration { return m.clock.Window() }

// RedfishMeter reads a chassis's power over Redfish with gofish:
// PowerControl[0].PowerConsumedWatts, plus the EnvironmentMetrics energy
// counter (EnergykWh) when the BMC has one, in which case the reading is a
// Counter reading carrying both.
type RedfishMeter struct {
	cfg      node.BMC
	password string
	o        options
	clock    *readingClock
}

var _ power.DatedMeter = (*RedfishMeter)(nil)

// String names the meter without its password.
func (m *RedfishMeter) String() string { return target(m.cfg) }

// Format prints String for every verb.
func (m *RedfishMeter) Format(f fmt.State, _ rune) { fmt.Fprint(f, m.String()) }

// LogValue logs the meter without its password.
func (m *RedfishMeter) LogValue() slog.Value { return slog.StringValue(m.String()) }

// Latency is how far at most a reading's date lies before its read.
func (m *RedfishMeter) Latency() time.Duration { return m.clock.Latency() }

// Window is the span one reading averages.
func (m *RedfishMeter) Window() time.Duration { return m.clock.Window() }

// Endpoint is the Redfish service URL: Address itself when it has a scheme,
// else https://Address:Port.
func (m *RedfishMeter) Endpoint() string {
	if strings.HasPrefix(m.cfg.Address, "http://") || strings.HasPrefix(m.cfg.Address, "https://") {
		return strings.TrimRight(m.cfg.Address, "/")
	}
	return "https://" + m.cfg.Address + ":" + strconv.Itoa(portOr(m.cfg.Port, 443))
}

// PowerReading reads the first chassis that reports power.
func (m *RedfishMeter) PowerReading(ctx context.Context) (power.Reading, error) {
	var r power.Reading
	err := retry(ctx, &m.o, m.String(), m.password, "redfish power", func(ctx context.Context) (error, error) {
		cctx, cancel := context.WithTimeout(ctx, m.o.callTimeout)
		defer cancel()
		got, err := m.read(cctx)
		if err != nil {
			return classify(cctx, err, m.password), err
		}
		r = got
		return nil, nil
	})
	return r, err
}

func (m *RedfishMeter) read(ctx context.Context) (power.Reading, error) {
	// Basic auth: one stateless request per resource, no session to leak
	// when a sampler is cancelled.
	c, err := gofish.ConnectContext(ctx, gofish.ClientConfig{
		Endpoint:   m.Endpoint(),
		Username:   m.cfg.User,
		Password:   m.password,
		Insecure:   m.cfg.Insecure,
		BasicAuth:  true,
		HTTPClient: m.o.meter().httpc,
	})
	if err != nil {
		return power.Reading{}, err
	}
	defer c.Logout()
	chassis, err := c.Service.Chassis()
	if err != nil {
		return power.Reading{}, err
	}
	for _, ch := range chassis {
		// The watts come from this request: it brackets the read.
		start := m.o.meter().clk.Now()
		p, err := ch.Power()
		if err != nil {
			return power.Reading{}, err
		}
		if p == nil || len(p.PowerControl) == 0 {
			continue
		}
		rd := read{start: start, end: m.o.meter().clk.Now(), watts: float64(p.PowerControl[0].PowerConsumedWatts)}
		// A counter read with the watts is dated alike: one reading, one
		// time. A counter is usually fresher than the watts (no averaging
		// window), so a counter-billed phase then ends and starts a little
		// late: the power at its two edges times that difference (in the
		// lab ~0.75 s, 0.1 % of a ten-minute job).
		r := power.Reading{Time: m.clock.date(rd), Watts: rd.watts}
		em, err := ch.EnvironmentMetrics()
		if err != nil {
			return power.Reading{}, err
		}
		if em != nil {
			kwh, ok, err := energyKWh(c, em.ODataID)
			if err != nil {
				return power.Reading{}, err
			}
			if ok {
				r.Joules = kwh * accounting.JoulesPerKWh
				r.Counter = true
			}
		}
		return r, nil
	}
	return power.Reading{}, fmt.Errorf("no chassis reports power: %w", power.ErrUnsupported)
}

// energyKWh reads EnvironmentMetrics.EnergykWh.Reading from the resource's
// raw JSON as a float64. gofish decodes it as a float32, whose 24-bit
// mantissa cannot hold a lifetime counter: at 20 MWh one step is 2⁻⁹ kWh,
// about 7 kJ, so an 18 kJ job was billed 21 kJ. ok is false when the BMC
// has no such reading.
func energyKWh(c *gofish.APIClient, uri string) (kwh float64, ok bool, err error) {
	resp, err := c.Get(uri)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	var doc struct {
		EnergykWh *struct {
			Reading *json.Number
		}
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxResourceBytes))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return 0, false, fmt.Errorf("%s: %w", uri, err)
	}
	if doc.EnergykWh == nil || doc.EnergykWh.Reading == nil {
		return 0, false, nil
	}
	v, err := strconv.ParseFloat(doc.EnergykWh.Reading.String(), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) {
		return 0, false, fmt.Errorf("%s: EnergykWh reading %q is not a counter", uri, doc.EnergykWh.Reading.String())
	}
	return v, true, nil
}

// maxResourceBytes bounds one Redfish resource read: a BMC is not trusted
// to send a sane amount.
const maxResourceBytes = 1 << 20
