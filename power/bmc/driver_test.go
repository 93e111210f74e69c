package bmc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bmclib "github.com/bmc-toolbox/bmclib/v2"
	"github.com/bmc-toolbox/bmclib/v2/providers"
	"github.com/jacobweinstock/registrar"

	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
)

const secret = "s3cr3t-Pa55"

// fakeBMC is a bmclib provider plugged into the registrar, like rufio's tests
// do, so the driver runs through the real bmclib client code.
type fakeBMC struct {
	mu       sync.Mutex
	on       bool
	offLag   int // status reads that still say "on" after an off
	lagLeft  int
	openErrs []error // returned by successive Open calls, then nil
	getErrs  []error
	setErrs  []error
	bootErr  error
	block    bool // calls wait for their context to end
	calls    []string
}

func (f *fakeBMC) Name() string { return "fake" }

func (f *fakeBMC) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeBMC) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	return n
}

func pop(errs *[]error) error {
	if len(*errs) == 0 {
		return nil
	}
	err := (*errs)[0]
	*errs = (*errs)[1:]
	return err
}

func (f *fakeBMC) Open(ctx context.Context) error {
	f.record("open")
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return pop(&f.openErrs)
}

func (f *fakeBMC) Close(context.Context) error { f.record("close"); return nil }

func (f *fakeBMC) PowerStateGet(ctx context.Context) (string, error) {
	f.record("get")
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := pop(&f.getErrs); err != nil {
		return "", err
	}
	if !f.on && f.lagLeft > 0 {
		f.lagLeft--
		return "Chassis Power is on\n", nil
	}
	if f.on {
		return "Chassis Power is on\n", nil
	}
	return "Chassis Power is off\n", nil
}

func (f *fakeBMC) PowerSet(ctx context.Context, state string) (bool, error) {
	f.record("set " + state)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := pop(&f.setErrs); err != nil {
		return false, err
	}
	if f.on && state == "off" {
		f.lagLeft = f.offLag
	}
	f.on = state == "on"
	return true, nil
}

func (f *fakeBMC) BootDeviceSet(ctx context.Context, dev string, persistent, efi bool) (bool, error) {
	f.record(fmt.Sprintf("boot %s persistent=%v", dev, persistent))
	if f.bootErr != nil {
		return false, f.bootErr
	}
	return true, nil
}

func fakeFactory(f *fakeBMC) ClientFactory {
	return func(cfg node.BMC, password string) (*bmclib.Client, error) {
		reg := registrar.NewRegistry()
		reg.Register(f.Name(), "ipmi", registrar.Features{
			providers.FeaturePowerState, providers.FeaturePowerSet, providers.FeatureBootDeviceSet,
		}, nil, f)
		return bmclib.NewClient(cfg.Address, cfg.User, password, bmclib.WithRegistry(reg)), nil
	}
}

// sleeps records the driver's waits and returns at once.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func passwordFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newFakeDriver(t *testing.T, f *fakeBMC, opts ...Option) (*Driver, *sleeps) {
	t.Helper()
	s := &sleeps{}
	cfg := node.BMC{Protocol: "ipmi", Address: "127.0.0.1", Port: 9001, User: "admin", PasswordFile: passwordFile(t, secret+"\n")}
	d, err := New(cfg, append([]Option{WithClientFactory(fakeFactory(f)), WithSleeper(s.sleep)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPowerOnOffConfirmsOff(t *testing.T) {
	f := &fakeBMC{offLag: 3}
	d, s := newFakeDriver(t, f)
	ctx := ctxT(t)
	if st, err := d.PowerState(ctx); err != nil || st != power.Off {
		t.Fatalf("PowerState = %v, %v", st, err)
	}
	if err := d.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := d.PowerState(ctx); err != nil || st != power.On {
		t.Fatalf("PowerState after on = %v, %v", st, err)
	}
	if err := d.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	// The fake says "on" three more times after the off; the driver must have
	// polled through them.
	if f.lagLeft != 0 {
		t.Fatalf("PowerOff returned with %d 'on' answers unread", f.lagLeft)
	}
	want := []time.Duration{DefaultOffPollInterval, DefaultOffPollInterval, DefaultOffPollInterval}
	if got := s.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sleeps = %v, want %v", got, want)
	}
	if n := f.count("open"); n != 1 {
		t.Fatalf("opened %d times, want once", n)
	}
}

func TestPowerOffWhenOffSendsNothing(t *testing.T) {
	f := &fakeBMC{}
	d, _ := newFakeDriver(t, f)
	if err := d.PowerOff(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := f.count("set off"); n != 0 {
		t.Fatalf("sent %d offs to a machine already off", n)
	}
}

func TestPowerOffConfirmTimeout(t *testing.T) {
	f := &fakeBMC{on: true, offLag: 1 << 30}
	s := &sleeps{}
	// This sleeper waits for the confirm deadline, standing in for time passing.
	wait := func(ctx context.Context, d time.Duration) error {
		s.sleep(ctx, d)
		<-ctx.Done()
		return ctx.Err()
	}
	d, _ := newFakeDriver(t, f, WithOffConfirmTimeout(50*time.Millisecond), WithSleeper(wait))
	err := d.PowerOff(ctxT(t))
	if !errors.Is(err, power.ErrTimeout) {
		t.Fatalf("PowerOff = %v, want ErrTimeout", err)
	}
}

func TestAuthFailureIsNotRetriedAndHidesPassword(t *testing.T) {
	f := &fakeBMC{openErrs: []error{
		errors.New("Error: Unable to establish IPMI v2 / RMCP+ session (sent IPMITOOL_PASSWORD=" + secret + ")"),
	}}
	d, s := newFakeDriver(t, f)
	_, err := d.PowerState(ctxT(t))
	if !errors.Is(err, power.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error text leaks the password: %v", err)
	}
	if n := f.count("open"); n != 1 {
		t.Fatalf("Open tried %d times; an auth failure must not be retried", n)
	}
	if len(s.got()) != 0 {
		t.Fatalf("backed off %v before giving up on bad credentials", s.got())
	}
}

func TestTransientFailuresRetriedWithBackoff(t *testing.T) {
	refused := errors.New("dial udp 127.0.0.1:9001: connection refused")
	f := &fakeBMC{getErrs: []error{refused, refused}}
	d, s := newFakeDriver(t, f)
	st, err := d.PowerState(ctxT(t))
	if err != nil || st != power.Off {
		t.Fatalf("PowerState = %v, %v", st, err)
	}
	want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}
	if fmt.Sprint(s.got()) != fmt.Sprint(want) {
		t.Fatalf("backoff = %v, want %v", s.got(), want)
	}
	// An unreachable BMC drops the session: each retry opens again.
	if n := f.count("open"); n != 3 {
		t.Fatalf("opened %d times, want 3", n)
	}
}

func TestRetriesExhausted(t *testing.T) {
	refused := errors.New("connection refused")
	f := &fakeBMC{openErrs: []error{refused, refused, refused, refused, refused}}
	d, s := newFakeDriver(t, f)
	_, err := d.PowerState(ctxT(t))
	if !errors.Is(err, power.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if n := f.count("open"); n != 1+DefaultRetries {
		t.Fatalf("tried %d times, want %d", n, 1+DefaultRetries)
	}
	want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}
	if fmt.Sprint(s.got()) != fmt.Sprint(want) {
		t.Fatalf("backoff = %v, want %v", s.got(), want)
	}
}

func TestCallTimeout(t *testing.T) {
	f := &fakeBMC{block: true}
	d, _ := newFakeDriver(t, f, WithCallTimeout(20*time.Millisecond), WithRetries(1))
	_, err := d.PowerState(ctxT(t))
	if !errors.Is(err, power.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if n := f.count("open"); n != 2 {
		t.Fatalf("tried %d times, want 2", n)
	}
}

func TestCallerCancelStopsRetries(t *testing.T) {
	f := &fakeBMC{openErrs: []error{errors.New("connection refused")}}
	d, _ := newFakeDriver(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.PowerState(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := f.count("open"); n != 0 {
		t.Fatalf("called the BMC %d times with a cancelled context", n)
	}
}

func TestSetNextBootNetwork(t *testing.T) {
	f := &fakeBMC{}
	d, _ := newFakeDriver(t, f)
	if err := d.SetNextBootNetwork(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := f.count("boot pxe persistent=false"); n != 1 {
		t.Fatalf("calls = %v", f.calls)
	}

	f2 := &fakeBMC{bootErr: errors.New("Set Chassis Boot Parameter 5 failed: Invalid data field in request")}
	d2, s := newFakeDriver(t, f2)
	err := d2.SetNextBootNetwork(ctxT(t))
	if !errors.Is(err, power.ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
	if len(s.got()) != 0 {
		t.Fatal("retried an unsupported request")
	}
}

func TestDriverNeverPrintsPassword(t *testing.T) {
	d, _ := newFakeDriver(t, &fakeBMC{})
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "bmc", d)
	for _, s := range []string{
		fmt.Sprint(d), fmt.Sprintf("%v %+v %#v %s", d, d, d, d), d.String(), buf.String(),
	} {
		if strings.Contains(s, secret) {
			t.Fatalf("password printed: %s", s)
		}
	}
	if !strings.Contains(buf.String(), `"address":"127.0.0.1"`) {
		t.Fatalf("log lacks the BMC address: %s", buf.String())
	}
	if d.password != secret {
		t.Fatalf("password file not trimmed: %q", d.password)
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  node.BMC
		want error
	}{
		{"unknown protocol", node.BMC{Protocol: "telnet", Address: "x"}, power.ErrUnsupported},
		{"missing password file", node.BMC{Protocol: "ipmi", Address: "x", PasswordFile: "/nonexistent/pw"}, os.ErrNotExist},
		{"no address", node.BMC{Protocol: "ipmi"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("New = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNewClientPicksOneProvider(t *testing.T) {
	for _, tc := range []struct {
		proto, provider string
	}{
		{"ipmi", "ipmitool"},
		{"redfish", "gofish"},
		{"amt", "IntelAMT"},
		{"rpc", "rpc"},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			c, err := NewClient(node.BMC{Protocol: tc.proto, Address: "http://127.0.0.1:1/rpc", User: "u"}, "p")
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Registry.Drivers) != 1 || c.Registry.Drivers[0].Name != tc.provider {
				t.Fatalf("drivers = %v", c.Registry.Drivers)
			}
		})
	}
}

func TestParsePowerState(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want power.State
		ok   bool
	}{
		{"Chassis Power is on\n", power.On, true},
		{"Chassis Power is off\n", power.Off, true},
		{"On", power.On, true},
		{"Off", power.Off, true},
		{"PoweringOff", power.On, true},
		{"PoweringOn", power.On, true},
		{"  off  ", power.Off, true},
		{"", power.Unknown, false},
		{"Chassis Power is sideways", power.Unknown, false},
	} {
		got, ok := ParsePowerState(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParsePowerState(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParsePowerState(f *testing.F) {
	for _, s := range []string{"Chassis Power is on\n", "Off", "PoweringOn", "", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, ok := ParsePowerState(s)
		if ok == (st == power.Unknown) {
			t.Fatalf("ParsePowerState(%q) = %v, %v", s, st, ok)
		}
	})
}

func TestClassifyText(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want error
	}{
		{"Error: Unable to establish IPMI v2 / RMCP+ session", power.ErrAuth},
		{"RAKP 2 HMAC is invalid", power.ErrAuth},
		{"401: {\"error\":\"Unauthorized\"}", power.ErrAuth},
		{"provider: gofish: failed to login", power.ErrAuth},
		{"dial tcp 127.0.0.1:443: connect: connection refused", power.ErrUnreachable},
		{"Get Auth Capabilities error", power.ErrUnreachable},
		{"Set Chassis Boot Parameter 5 failed: Invalid data field in request", power.ErrUnsupported},
		{"DCMI request failed because: Invalid command (c1)", power.ErrUnsupported},
		{"context deadline exceeded", power.ErrTimeout},
		{"port 4010 weird", nil},
		{"something else", nil},
	} {
		if got := classifyText(tc.msg); got != tc.want {
			t.Errorf("classifyText(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}

func TestExpiredSessionIsReopened(t *testing.T) {
	f := &fakeBMC{getErrs: []error{nil, errors.New("401: session expired")}}
	d, _ := newFakeDriver(t, f)
	ctx := ctxT(t)
	for i := range 2 {
		if _, err := d.PowerState(ctx); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := f.count("open"); n != 2 {
		t.Fatalf("opened %d times, want 2 (the expired session reopened)", n)
	}
}
