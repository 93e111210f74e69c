package bmc_test

// These tests run the real drivers against a real OpenIPMI ipmi_sim on
// 127.0.0.1 (power/ipmitest). They fail, never skip, without openipmi and
// ipmitool installed.

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/power/bmc"
	"github.com/bmc-sched/bmc/power/ipmitest"
)

func ctx(t testing.TB, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

func newDriver(t testing.TB, b *ipmitest.BMC, opts ...bmc.Option) *bmc.Driver {
	t.Helper()
	d, err := bmc.New(b.Config(), append([]bmc.Option{bmc.WithOffPollInterval(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestIPMISimPowerOnOff(t *testing.T) {
	b := ipmitest.Start(t, ipmitest.Options{PoweroffWait: 1})
	d := newDriver(t, b)
	c := ctx(t, 60*time.Second)

	if st, err := d.PowerState(c); err != nil || st != power.Off {
		t.Fatalf("PowerState = %v, %v; want off", st, err)
	}
	if err := d.PowerOn(c); err != nil {
		t.Fatal(err)
	}
	if err := d.PowerOn(c); err != nil { // on when on
		t.Fatalf("second PowerOn: %v", err)
	}
	if st, err := d.PowerState(c); err != nil || st != power.On {
		t.Fatalf("PowerState after on = %v, %v", st, err)
	}
	if err := b.WaitMachine(c, true); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := d.PowerOff(c); err != nil {
		t.Fatal(err)
	}
	t.Logf("power off confirmed after %v (ipmi_sim poweroff_wait 1 s)", time.Since(start).Round(time.Millisecond))
	// Confirmed means the BMC says off now, and the machine is gone.
	if out, err := b.Ipmitool(c, "chassis", "power", "status"); err != nil || !strings.Contains(out, "is off") {
		t.Fatalf("ipmitool says %q, %v after a confirmed off", out, err)
	}
	if err := b.WaitMachine(c, false); err != nil {
		t.Fatal(err)
	}
	if err := d.PowerOff(c); err != nil { // off when off
		t.Fatalf("second PowerOff: %v", err)
	}
}

func TestIPMISimBootDeviceUnsupportedInStartcmdMode(t *testing.T) {
	b := ipmitest.Start(t, ipmitest.Options{})
	d := newDriver(t, b)
	err := d.SetNextBootNetwork(ctx(t, 30*time.Second))
	if !errors.Is(err, power.ErrUnsupported) {
		t.Fatalf("SetNextBootNetwork = %v, want ErrUnsupported (ipmi_sim startcmd says Invalid data field)", err)
	}
}

func TestIPMISimWrongPassword(t *testing.T) {
	b := ipmitest.Start(t, ipmitest.Options{Password: "right-horse-battery"})
	cfg := b.Config()
	wrong := "wrong-staple-" + "7731"
	cfg.PasswordFile = filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(cfg.PasswordFile, []byte(wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := bmc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	_, err = d.PowerState(ctx(t, 30*time.Second))
	took := time.Since(start)
	if !errors.Is(err, power.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), b.Password) {
		t.Fatalf("error text carries a password: %v", err)
	}
	// No retries: one RMCP+ handshake is tens of milliseconds; three retries
	// with backoff would take over 1.4 s.
	if took > time.Second {
		t.Fatalf("auth failure took %v: was it retried?", took)
	}
	t.Logf("auth failure in %v: %v", took.Round(time.Millisecond), err)
}

func TestIPMISimNothingListening(t *testing.T) {
	b := ipmitest.Start(t, ipmitest.Options{})
	cfg := b.Config()
	cfg.Port = ipmitest.FreeUDPPort(t)
	d, err := bmc.New(cfg, bmc.WithCallTimeout(time.Second), bmc.WithRetries(1), bmc.WithBackoff(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	_, err = d.PowerState(ctx(t, 30*time.Second))
	if !errors.Is(err, power.ErrTimeout) && !errors.Is(err, power.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrTimeout or ErrUnreachable", err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("gave up after %v, before two 1 s attempts", took)
	}
}

func TestIPMISimSensorMeter(t *testing.T) {
	b := ipmitest.Start(t, ipmitest.Options{Watts: 120})
	m, err := bmc.NewMeter(b.Config())
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t, 30*time.Second)
	for _, want := range []float64{333, 0, 1000} {
		b.SetWatts(t, want)
		// ipmi_sim polls the file once a second: read until the value shows.
		var last power.Reading
		tick := time.NewTicker(100 * time.Millisecond)
		for {
			r, err := m.PowerReading(c)
			if err != nil {
				t.Fatal(err)
			}
			last = r
			if math.Abs(r.Watts-want) < ipmitest.SensorResolution {
				break
			}
			select {
			case <-tick.C:
			case <-c.Done():
				t.Fatalf("sensor never read %v W (last %+v)", want, last)
			}
		}
		tick.Stop()
		if last.Counter || last.Time.IsZero() {
			t.Fatalf("reading = %+v", last)
		}
	}
}

func TestIPMISimHasNoDCMI(t *testing.T) {
	b := ipmitest.Start(t, ipmitest.Options{})
	cfg := b.Config()
	cfg.PowerSensor = ""
	m, err := bmc.NewMeter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.PowerReading(ctx(t, 30*time.Second))
	if !errors.Is(err, power.ErrUnsupported) {
		t.Fatalf("DCMI on ipmi_sim = %v, want ErrUnsupported", err)
	}
}

func BenchmarkIPMIPowerState(b *testing.B) {
	sim := ipmitest.Start(b, ipmitest.Options{})
	d := newDriver(b, sim)
	c := ctx(b, 10*time.Minute)
	for b.Loop() {
		if _, err := d.PowerState(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIPMIPowerOnOff reports one on (bmclib checks the state, then
// switches) and one confirmed off per iteration, each as its own metric.
func BenchmarkIPMIPowerOnOff(b *testing.B) {
	sim := ipmitest.Start(b, ipmitest.Options{PoweroffWait: 1})
	d := newDriver(b, sim, bmc.WithOffPollInterval(50*time.Millisecond))
	c := ctx(b, 10*time.Minute)
	var on, off time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		if err := d.PowerOn(c); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := d.PowerOff(c); err != nil {
			b.Fatal(err)
		}
		on += t1.Sub(t0)
		off += time.Since(t1)
		n++
	}
	b.ReportMetric(float64(on.Milliseconds())/float64(n), "ms/on")
	b.ReportMetric(float64(off.Milliseconds())/float64(n), "ms/off-confirmed")
}

func BenchmarkIPMISensorReading(b *testing.B) {
	sim := ipmitest.Start(b, ipmitest.Options{})
	m, err := bmc.NewMeter(sim.Config())
	if err != nil {
		b.Fatal(err)
	}
	c := ctx(b, 10*time.Minute)
	for b.Loop() {
		if _, err := m.PowerReading(c); err != nil {
			b.Fatal(err)
		}
	}
}
