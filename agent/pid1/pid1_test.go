package pid1

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/bmc-sched/bmc/agent"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestParseModulesOrder(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{name: "lab order", in: "virtio_ring.ko\nvirtio.ko\n\n# nic\n virtio_net.ko \n", want: []string{"virtio_ring.ko", "virtio.ko", "virtio_net.ko"}},
		{name: "subdirs and compressed", in: "kernel/drivers/net/e1000.ko.xz\nfoo.ko.zst\n", want: []string{"kernel/drivers/net/e1000.ko.xz", "foo.ko.zst"}},
		{name: "empty", in: "", want: nil},
		{name: "escape", in: "../../etc/shadow.ko\n", wantErr: true},
		{name: "absolute", in: "/tmp/x.ko\n", wantErr: true},
		{name: "not a module", in: "virtio_net\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseModulesOrder(strings.NewReader(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrModule) {
					t.Fatalf("err = %v, want ErrModule", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzParseModulesOrder(f *testing.F) {
	f.Add("virtio.ko\nvirtio_net.ko\n")
	f.Add("a/../../b.ko")
	f.Fuzz(func(t *testing.T, s string) {
		mods, err := ParseModulesOrder(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, m := range mods {
			if filepath.IsAbs(m) || m == ".." || strings.HasPrefix(m, "../") {
				t.Fatalf("%q leaves the module directory", m)
			}
		}
	})
}

func TestLoadModuleMissingFile(t *testing.T) {
	if err := loadModule(t.TempDir(), "nope.ko"); !errors.Is(err, ErrModule) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func TestConsoleLoggerGolden(t *testing.T) {
	var buf bytes.Buffer
	up := 12345 * time.Millisecond
	log := NewConsoleLogger(&buf, func() time.Duration { return up })
	log.Info("start", "pid", 1)
	log.With("iface", "eth0").Info("dhcp lease", "addr", "10.0.2.15/24", "dns", 1)
	up = 15 * time.Second
	log.WithGroup("rootfs").Warn("retrying", "err", "connection refused", "empty", "")
	log.Error("boot failed; powering off", "err", errors.New(`config: "bad" token`))
	golden := filepath.Join("testdata", "console.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Errorf("console output:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestReadEnergy(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "energy_uj")
	if ReadEnergy(p) != nil {
		t.Fatal("energy from a missing file")
	}
	os.WriteFile(p, []byte("262143328850\n"), 0o644)
	if v := ReadEnergy(p); v == nil || *v != 262143328850 {
		t.Fatalf("ReadEnergy = %v", v)
	}
	os.WriteFile(p, []byte("garbage"), 0o644)
	if ReadEnergy(p) != nil {
		t.Fatal("energy from garbage")
	}
}

// TestReadRAPL reads a fake powercap zone the way serve does: the range
// once, the counter every heartbeat.
func TestReadRAPL(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	tests := []struct {
		name            string
		energy, rangeUJ string // file contents; "" = no such file
		wantUJ, wantMax *uint64
	}{
		{"counter and range", "262143328850\n", "262143328850\n", u(262143328850), u(262143328850)},
		{"counter without range", "1000\n", "", u(1000), nil},
		{"zero range is unknown", "1000\n", "0\n", u(1000), nil},
		{"no counter", "", "262143328850\n", nil, nil},
		{"garbage range", "5\n", "lots", u(5), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			zone := filepath.Join(t.TempDir(), "intel-rapl:0")
			if err := os.MkdirAll(zone, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, v := range map[string]string{"energy_uj": tt.energy, "max_energy_range_uj": tt.rangeUJ} {
				if v == "" {
					continue
				}
				if err := os.WriteFile(filepath.Join(zone, name), []byte(v), 0o444); err != nil {
					t.Fatal(err)
				}
			}
			maxUJ := ReadEnergy(filepath.Join(zone, "max_energy_range_uj"))
			uj, rng := ReadRAPL(filepath.Join(zone, "energy_uj"), maxUJ)
			if !equalPtr(uj, tt.wantUJ) || !equalPtr(rng, tt.wantMax) {
				t.Errorf("ReadRAPL = %s, %s; want %s, %s", showPtr(uj), showPtr(rng), showPtr(tt.wantUJ), showPtr(tt.wantMax))
			}
		})
	}
}

func equalPtr(a, b *uint64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func showPtr(p *uint64) string {
	if p == nil {
		return "nil"
	}
	return strconv.FormatUint(*p, 10)
}

func TestLeaseFromACK(t *testing.T) {
	ack, err := dhcpv4.New(
		dhcpv4.WithYourIP(net.IPv4(10, 0, 2, 15)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(net.IPv4(10, 0, 2, 2)),
		dhcpv4.WithDNS(net.IPv4(10, 0, 2, 3)),
	)
	if err != nil {
		t.Fatal(err)
	}
	l, err := leaseFromACK("eth0", ack)
	if err != nil {
		t.Fatal(err)
	}
	if l.Addr.String() != "10.0.2.15/24" || !l.Router.Equal(net.IPv4(10, 0, 2, 2)) || len(l.DNS) != 1 {
		t.Fatalf("lease = %+v", l)
	}
	if got := ResolvConf(l.DNS); got != "# written by bmcinit from DHCP\nnameserver 10.0.2.3\n" {
		t.Fatalf("resolv.conf = %q", got)
	}
	empty, _ := dhcpv4.New()
	if _, err := leaseFromACK("eth0", empty); !errors.Is(err, ErrNetwork) {
		t.Fatalf("ack without address: %v", err)
	}
}

func TestMainRefusesWhenNotPID1(t *testing.T) {
	if Main() != 2 {
		t.Fatal("Main ran as a normal process")
	}
}

func TestRetry(t *testing.T) {
	log := NewConsoleLogger(io.Discard, func() time.Duration { return 0 })
	var waits []time.Duration
	now := func(d time.Duration) <-chan time.Time {
		waits = append(waits, d)
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	transient := errors.New("connection refused")
	calls := 0
	err := retryWith(context.Background(), log, "config", time.Minute, now, func(context.Context) error {
		calls++
		if calls < 6 {
			return transient
		}
		return nil
	})
	if err != nil || calls != 6 {
		t.Fatalf("retry = %v after %d calls", err, calls)
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}
	if !reflect.DeepEqual(waits, want) {
		t.Errorf("backoff = %v, want %v", waits, want)
	}

	calls = 0
	perm := &agent.HTTPError{Method: "GET", Path: "/agent/config", StatusCode: 401}
	if err := retryWith(context.Background(), log, "config", time.Minute, now, func(context.Context) error { calls++; return perm }); !errors.Is(err, perm) || calls != 1 {
		t.Fatalf("permanent error: %v after %d calls, want one call", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	never := func(time.Duration) <-chan time.Time { return nil }
	if err := retryWith(ctx, log, "ready", time.Minute, never, func(context.Context) error { return transient }); !errors.Is(err, transient) {
		t.Fatalf("gave up with %v, want the last error", err)
	}
}

func TestScrubCmdline(t *testing.T) {
	for in, want := range map[string]string{
		"console=ttyS0 quiet rdinit=/bmcinit bmc.url=http://10.0.2.2:8150 bmc.token=SECRET\n": "console=ttyS0 quiet rdinit=/bmcinit bmc.url=http://10.0.2.2:8150\n",
		"bmc.token=x": "\n",
		"a  b":        "a b\n",
	} {
		if got := ScrubCmdline(in); got != want {
			t.Errorf("ScrubCmdline(%q) = %q, want %q", in, got, want)
		}
	}
}
