package bmc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type fakeRunner struct {
	mu    sync.Mutex
	out   []string
	errs  []error
	calls [][]string
	envs  [][]string
}

func (f *fakeRunner) run(ctx context.Context, env []string, args ...string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, args)
	f.envs = append(f.envs, env)
	i := len(f.calls) - 1
	var err error
	if i < len(f.errs) {
		err = f.errs[i]
	}
	out := f.out[min(i, len(f.out)-1)]
	return []byte(out), err
}

func ipmiCfg(t *testing.T, sensor string) node.BMC {
	return node.BMC{Protocol: "ipmi", Address: "127.0.0.1", Port: 9001, User: "admin",
		PasswordFile: passwordFile(t, secret+"\n"), CipherSuite: "3", PowerSensor: sensor}
}

func TestIPMIMeterSensorAndDCMI(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sensor   string
		out      string
		want     float64
		wantTail []string
	}{
		{"sdr", "Sys Power", golden(t, "sdr-get-sys-power.ipmi-sim.txt"), 236, []string{"sdr", "get", "Sys Power"}},
		{"dcmi", "", golden(t, "dcmi-power-reading.handwritten.txt"), 220, []string{"dcmi", "power", "reading"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{out: []string{tc.out}}
			m, err := NewMeter(ipmiCfg(t, tc.sensor), WithRunner(f.run), WithMeterClock(clock.NewFake(t0)))
			if err != nil {
				t.Fatal(err)
			}
			r, err := m.PowerReading(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if r.Watts != tc.want || r.Counter || !r.Time.Equal(t0) {
				t.Fatalf("reading = %+v, want %v W at %v", r, tc.want, t0)
			}
			args := f.calls[0]
			if !slices.Equal(args[len(args)-len(tc.wantTail):], tc.wantTail) {
				t.Fatalf("args = %q", args)
			}
			for _, want := range [][]string{{"-I", "lanplus"}, {"-H", "127.0.0.1"}, {"-p", "9001"}, {"-U", "admin"}, {"-C", "3"}} {
				if i := slices.Index(args, want[0]); i < 0 || args[i+1] != want[1] {
					t.Fatalf("args %q lack %q", args, want)
				}
			}
			if !slices.Contains(args, "-E") || slices.Contains(args, "-P") || strings.Contains(strings.Join(args, " "), secret) {
				t.Fatalf("password not passed through the environment: %q", args)
			}
			if !slices.Equal(f.envs[0], []string{"IPMI_PASSWORD=" + secret}) {
				t.Fatalf("env = %q", f.envs[0])
			}
			if strings.Contains(fmt.Sprintf("%v %+v %#v", m, m, m), secret) {
				t.Fatal("meter prints its password")
			}
		})
	}
}

func TestIPMIMeterErrors(t *testing.T) {
	authOut := "Error: Unable to establish IPMI v2 / RMCP+ session"
	for _, tc := range []struct {
		name  string
		out   []string
		errs  []error
		want  error
		calls int
	}{
		{"bad credentials not retried", []string{authOut}, []error{fmt.Errorf("exit status 1: %s (IPMI_PASSWORD=%s)", authOut, secret)}, power.ErrAuth, 1},
		{"misnamed sensor not retried", []string{golden(t, "sdr-get-missing.ipmi-sim.txt")}, nil, power.ErrUnsupported, 1},
		{"transient then fine", []string{"", golden(t, "sdr-get-sys-power.ipmi-sim.txt")}, []error{errors.New("exit status 1: connection refused")}, nil, 2},
		{"unreachable after retries", []string{""}, []error{
			errors.New("connection refused"), errors.New("connection refused"), errors.New("connection refused"), errors.New("connection refused"),
		}, power.ErrUnreachable, 1 + DefaultRetries},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{out: tc.out, errs: tc.errs}
			s := &sleeps{}
			m, err := NewMeter(ipmiCfg(t, "Sys Power"), WithRunner(f.run), WithSleeper(s.sleep))
			if err != nil {
				t.Fatal(err)
			}
			r, err := m.PowerReading(ctxT(t))
			if tc.want == nil {
				if err != nil || r.Watts != 236 {
					t.Fatalf("= %+v, %v", r, err)
				}
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the password: %v", err)
			}
			if len(f.calls) != tc.calls {
				t.Fatalf("ran ipmitool %d times, want %d", len(f.calls), tc.calls)
			}
		})
	}
}

func TestNewMeterChoosesByConfig(t *testing.T) {
	pw := passwordFile(t, "x")
	for _, tc := range []struct {
		cfg  node.BMC
		want string
	}{
		{node.BMC{Protocol: "ipmi", Address: "h", PasswordFile: pw, PowerSensor: "Pwr Consumption"}, "*bmc.IPMIMeter sensor"},
		{node.BMC{Protocol: "ipmi", Address: "h", PasswordFile: pw}, "*bmc.IPMIMeter dcmi"},
		{node.BMC{Protocol: "redfish", Address: "h", PasswordFile: pw}, "*bmc.RedfishMeter"},
		{node.BMC{Protocol: "amt", Address: "h", PasswordFile: pw}, "error"},
		{node.BMC{Protocol: "ipmi", Address: "h", PasswordFile: pw, PowerSensor: "Sys Power", PowerMeter: node.MeterNone}, "error"},
		{node.BMC{Protocol: "redfish", Address: "h", PasswordFile: pw, PowerMeter: node.MeterNone}, "error"},
		{node.BMC{Protocol: "redfish", Address: "h", PasswordFile: pw, PowerMeter: node.MeterAuto}, "*bmc.RedfishMeter"},
	} {
		m, err := NewMeter(tc.cfg)
		got := "error"
		switch m := m.(type) {
		case *IPMIMeter:
			got = "*bmc.IPMIMeter dcmi"
			if m.sensor != "" {
				got = "*bmc.IPMIMeter sensor"
			}
		case *RedfishMeter:
			got = "*bmc.RedfishMeter"
		}
		if got != tc.want {
			t.Errorf("%+v: got %s (%v), want %s", tc.cfg, got, err, tc.want)
		}
		if tc.want == "error" && !errors.Is(err, power.ErrUnsupported) {
			t.Errorf("%+v: err = %v, want ErrUnsupported", tc.cfg, err)
		}
	}
}

func TestRedfishMeter(t *testing.T) {
	for _, withEnergy := range []bool{true, false} {
		t.Run(fmt.Sprint("energy=", withEnergy), func(t *testing.T) {
			_, srv := newFakeRedfish(t, "admin", secret, withEnergy)
			cfg := node.BMC{Protocol: "redfish", Address: srv.URL, User: "admin", PasswordFile: passwordFile(t, secret), Insecure: true}
			m, err := NewMeter(cfg, WithMeterClock(clock.NewFake(t0)))
			if err != nil {
				t.Fatal(err)
			}
			r, err := m.PowerReading(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if r.Watts != 187 || !r.Time.Equal(t0) {
				t.Fatalf("reading = %+v", r)
			}
			if withEnergy && (!r.Counter || r.Joules != 1.5*accounting.JoulesPerKWh) {
				t.Fatalf("energy counter = %+v, want 5.4 MJ", r)
			}
			if !withEnergy && r.Counter {
				t.Fatalf("counter without EnvironmentMetrics: %+v", r)
			}
		})
	}
}

func TestRedfishMeterBadPassword(t *testing.T) {
	_, srv := newFakeRedfish(t, "admin", secret, false)
	cfg := node.BMC{Protocol: "redfish", Address: srv.URL, User: "admin", PasswordFile: passwordFile(t, "wrong-"+secret), Insecure: true}
	s := &sleeps{}
	m, err := NewMeter(cfg, WithSleeper(s.sleep))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.PowerReading(ctxT(t))
	if !errors.Is(err, power.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), secret) || len(s.got()) != 0 {
		t.Fatalf("leaked or retried: %v (sleeps %v)", err, s.got())
	}
}

// TestMetersDateTheirReadings: with the BMC's window, period and lag set,
// both meters date a reading at the middle of the window it describes (half
// a period old while the BMC's phase is unknown) and say how late that can be.
func TestMetersDateTheirReadings(t *testing.T) {
	timing := func(c node.BMC) node.BMC {
		c.PowerWindow, c.PowerPeriod, c.PowerLag = time.Second, time.Second, 250*time.Millisecond
		return c
	}
	_, srv := newFakeRedfish(t, "admin", secret, true)
	for _, tc := range []struct {
		name string
		cfg  node.BMC
		opts []Option
	}{
		{"ipmi", timing(ipmiCfg(t, "Sys Power")), []Option{WithRunner((&fakeRunner{out: []string{golden(t, "sdr-get-sys-power.ipmi-sim.txt")}}).run)}},
		{"redfish", timing(node.BMC{Protocol: "redfish", Address: srv.URL, User: "admin", PasswordFile: passwordFile(t, secret), Insecure: true}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMeter(tc.cfg, append(tc.opts, WithMeterClock(clock.NewFake(t0)))...)
			if err != nil {
				t.Fatal(err)
			}
			r, err := m.PowerReading(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			// 250 ms lag + half the 1 s window + half a 1 s period.
			if want := t0.Add(-1250 * time.Millisecond); !r.Time.Equal(want) {
				t.Fatalf("reading dated %s, want %s", r.Time.Sub(t0), want.Sub(t0))
			}
			lm, ok := m.(power.DatedMeter)
			if !ok || lm.Latency() != 1750*time.Millisecond {
				t.Fatalf("Latency() missing or not 1.75 s: %v", ok)
			}
		})
	}
}
