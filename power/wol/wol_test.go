package wol

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
)

func TestMagicPacket(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:00:00:01")
	p, err := MagicPacket(mac)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte{0xff}, 6)
	for range 16 {
		want = append(want, 0x52, 0x54, 0x00, 0x00, 0x00, 0x01)
	}
	if !bytes.Equal(p, want) || len(p) != 102 {
		t.Fatalf("packet = % x", p)
	}
	long, _ := net.ParseMAC("00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01")
	if _, err := MagicPacket(long); err == nil {
		t.Fatal("accepted a 20-byte MAC")
	}
}

type machine struct {
	alive   atomic.Bool
	offs    atomic.Int32
	offFail error
}

func (m *machine) hooks() Hooks {
	return Hooks{
		Alive: func(context.Context) (bool, error) { return m.alive.Load(), nil },
		PowerOff: func(context.Context) error {
			m.offs.Add(1)
			if m.offFail != nil {
				return m.offFail
			}
			m.alive.Store(false)
			return nil
		},
	}
}

func listen(t *testing.T) (*net.UDPConn, int) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.LocalAddr().(*net.UDPAddr).Port
}

func TestPowerOnSendsMagicPacketToListener(t *testing.T) {
	conn, port := listen(t)
	m := &machine{}
	d, err := New(node.BMC{Protocol: "wol", Address: "127.0.0.1", Port: port}, "52:54:00:ab:cd:ef", m.hooks(), WithRepeat(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	want, _ := MagicPacket(net.HardwareAddr{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef})
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range 2 {
		buf := make([]byte, 512)
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("packet %d = % x", i, buf[:n])
		}
	}
}

func TestPowerOnWhenAliveSendsNothing(t *testing.T) {
	conn, port := listen(t)
	m := &machine{}
	m.alive.Store(true)
	d, _ := New(node.BMC{Address: "127.0.0.1", Port: port}, "52:54:00:00:00:01", m.hooks())
	if err := d.PowerOn(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A sentinel datagram sent after PowerOn must be the first one read.
	s, _ := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	defer s.Close()
	s.Write([]byte("sentinel"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, _, err := conn.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "sentinel" {
		t.Fatalf("first datagram = %q, %v; PowerOn woke a live machine", buf[:n], err)
	}
}

func TestStateMachine(t *testing.T) {
	_, port := listen(t)
	clk := clock.NewFake(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	m := &machine{}
	d, err := New(node.BMC{Address: "127.0.0.1", Port: port}, "52:54:00:00:00:01", m.hooks(),
		WithClock(clk), WithWakeTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	state := func(want power.State) {
		t.Helper()
		got, err := d.PowerState(ctx)
		if err != nil || got != want {
			t.Fatalf("PowerState = %v, %v; want %v", got, err, want)
		}
	}
	state(power.Off)
	if err := d.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	state(power.On) // woken, booting
	clk.Advance(30 * time.Second)
	m.alive.Store(true)
	state(power.On)
	if err := d.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if m.offs.Load() != 1 {
		t.Fatal("in-band power off not called")
	}
	state(power.Off)
	if err := d.PowerOff(ctx); err != nil || m.offs.Load() != 1 {
		t.Fatalf("second PowerOff = %v, offs %d; want no second in-band call", err, m.offs.Load())
	}

	// Woken, never answers: DOWN material after the wake timeout.
	if err := d.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(59 * time.Second)
	state(power.On)
	clk.Advance(time.Second)
	_, err = d.PowerState(ctx)
	if !errors.Is(err, ErrNoAnswer) || !errors.Is(err, power.ErrUnreachable) {
		t.Fatalf("PowerState after silent wake = %v, want ErrNoAnswer and ErrUnreachable", err)
	}
}

func TestPowerOffHook(t *testing.T) {
	_, port := listen(t)
	m := &machine{offFail: errors.New("agent gone")}
	m.alive.Store(true)
	d, _ := New(node.BMC{Address: "127.0.0.1", Port: port}, "52:54:00:00:00:01", m.hooks())
	if err := d.PowerOff(context.Background()); err == nil {
		t.Fatal("PowerOff hid the in-band failure")
	}
	h := m.hooks()
	h.PowerOff = nil
	d2, _ := New(node.BMC{Address: "127.0.0.1", Port: port}, "52:54:00:00:00:01", h)
	if err := d2.PowerOff(context.Background()); !errors.Is(err, power.ErrUnsupported) {
		t.Fatalf("PowerOff without hook = %v, want ErrUnsupported", err)
	}
}

func TestNewRejects(t *testing.T) {
	ok := Hooks{Alive: func(context.Context) (bool, error) { return false, nil }}
	for _, tc := range []struct {
		name string
		cfg  node.BMC
		mac  string
		h    Hooks
	}{
		{"bad mac", node.BMC{Address: "127.0.0.1"}, "zz", ok},
		{"no address", node.BMC{}, "52:54:00:00:00:01", ok},
		{"no probe", node.BMC{Address: "127.0.0.1"}, "52:54:00:00:00:01", Hooks{}},
	} {
		if _, err := New(tc.cfg, tc.mac, tc.h); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
