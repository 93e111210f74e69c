package dhcpd

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

var update = flag.Bool("update", false, "rewrite the golden replies under testdata/golden")

// labConfig is the virtual lab's: bmcctld on 10.77.0.1/16, one x86 node
// booting iPXE and one aarch64 node booting UEFI HTTP Boot + GRUB.
func labConfig(mode Mode) Config {
	return Config{
		Mode: mode, ServerIP: netip.MustParseAddr("10.77.0.1"), Subnet: netip.MustParsePrefix("10.77.0.0/16"),
		BootURL: "http://10.77.0.1:8150", IPXEPath: "/boot.ipxe", GRUBPath: "/grubaa64.efi",
		Hosts: []Host{
			{Name: "vnode1", MAC: mustMAC("52:54:00:00:00:01"), Addr: netip.MustParseAddr("10.77.1.1"), Loader: LoaderIPXE},
			{Name: "varm1", MAC: mustMAC("52:54:00:00:01:01"), Addr: netip.MustParseAddr("10.77.2.1"), Loader: LoaderGRUB},
		},
	}
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// capture is one request captured in the lab (testdata/README.md).
type capture struct {
	file   string
	client Client
	what   string
}

var captures = []capture{
	{"ipxe-discover.bin", ClientIPXE, "QEMU iPXE ROM, x86_64: DISCOVER"},
	{"ipxe-request.bin", ClientIPXE, "QEMU iPXE ROM, x86_64: REQUEST"},
	{"bmcinit-discover.bin", ClientOS, "node agent on vnode1: DISCOVER"},
	{"bmcinit-request.bin", ClientOS, "node agent on vnode1: REQUEST"},
	{"uefi-http-discover.bin", ClientHTTP, "aarch64 UEFI HTTP Boot: DISCOVER"},
	{"uefi-http-request.bin", ClientHTTP, "aarch64 UEFI HTTP Boot: REQUEST"},
	{"grub-discover.bin", ClientOS, "GRUB net_bootp on varm1: DISCOVER"},
	{"grub-request.bin", ClientOS, "GRUB net_bootp on varm1: REQUEST"},
}

func load(t testing.TB, name string) *dhcpv4.DHCPv4 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "requests", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := dhcpv4.FromBytes(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// render is a reply as the golden files hold it: every field and option a
// client reads, in a stable order.
func render(d Decision) string {
	if d.Reply == nil {
		return fmt.Sprintf("no reply: %s (client %s)\n", d.Reason, d.Client)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "client %s, reason %q\n", d.Client, d.Reason)
	b.WriteString(d.Reply.Summary())
	return b.String()
}

func TestRepliesToCapturedRequests(t *testing.T) {
	for _, mode := range []Mode{Full, Proxy} {
		r, err := New(labConfig(mode))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range captures {
			for _, port := range []Port{PortDHCP, PortProxy} {
				if mode == Full && port == PortProxy {
					continue
				}
				name := fmt.Sprintf("%s-%d-%s", mode, port, strings.TrimSuffix(c.file, ".bin"))
				t.Run(name, func(t *testing.T) {
					req := load(t, c.file)
					if got := Classify(req); got != c.client {
						t.Fatalf("%s: Classify = %s, want %s", c.what, got, c.client)
					}
					d := r.Reply(req, port)
					if d.Reply != nil {
						// The reply must survive the wire, and answer this request.
						back, err := dhcpv4.FromBytes(d.Reply.ToBytes())
						if err != nil {
							t.Fatalf("reply does not parse: %v", err)
						}
						if back.TransactionID != req.TransactionID || back.ClientHWAddr.String() != req.ClientHWAddr.String() {
							t.Fatalf("reply xid %s mac %s, want %s %s", back.TransactionID, back.ClientHWAddr, req.TransactionID, req.ClientHWAddr)
						}
					}
					golden(t, name+".txt", render(d))
				})
			}
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./dhcpd/ -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

// The facts each firmware depends on, checked apart from the golden files.
func TestBootFiles(t *testing.T) {
	full, _ := New(labConfig(Full))
	proxy, _ := New(labConfig(Proxy))
	tests := []struct {
		r        *Responder
		file     string
		port     Port
		typ      dhcpv4.MessageType
		yiaddr   string
		boot     string
		class    string // option 60 in the reply
		noReason string // for no reply
	}{
		{full, "ipxe-discover.bin", PortDHCP, dhcpv4.MessageTypeOffer, "10.77.1.1", "http://10.77.0.1:8150/boot.ipxe", "", ""},
		{full, "ipxe-request.bin", PortDHCP, dhcpv4.MessageTypeAck, "10.77.1.1", "http://10.77.0.1:8150/boot.ipxe", "", ""},
		{full, "uefi-http-discover.bin", PortDHCP, dhcpv4.MessageTypeOffer, "10.77.2.1", "http://10.77.0.1:8150/grubaa64.efi", "HTTPClient", ""},
		{full, "uefi-http-request.bin", PortDHCP, dhcpv4.MessageTypeAck, "10.77.2.1", "http://10.77.0.1:8150/grubaa64.efi", "HTTPClient", ""},
		{full, "grub-discover.bin", PortDHCP, dhcpv4.MessageTypeOffer, "10.77.2.1", "http://10.77.0.1:8150/grubaa64.efi", "", ""},
		{full, "bmcinit-discover.bin", PortDHCP, dhcpv4.MessageTypeOffer, "10.77.1.1", "", "", ""},
		{full, "bmcinit-request.bin", PortDHCP, dhcpv4.MessageTypeAck, "10.77.1.1", "", "", ""},
		// proxyDHCP: no address, boot options only, to firmware only.
		{proxy, "ipxe-discover.bin", PortDHCP, dhcpv4.MessageTypeOffer, "0.0.0.0", "http://10.77.0.1:8150/boot.ipxe", "PXEClient", ""},
		{proxy, "ipxe-request.bin", PortDHCP, 0, "", "", "", IgnoreProxyRequest},
		{proxy, "ipxe-request.bin", PortProxy, dhcpv4.MessageTypeAck, "0.0.0.0", "http://10.77.0.1:8150/boot.ipxe", "PXEClient", ""},
		{proxy, "uefi-http-discover.bin", PortDHCP, dhcpv4.MessageTypeOffer, "0.0.0.0", "http://10.77.0.1:8150/grubaa64.efi", "HTTPClient", ""},
		{proxy, "bmcinit-discover.bin", PortDHCP, 0, "", "", "", IgnoreNotFirmware},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%d-%s", tt.r.cfg.Mode, tt.port, tt.file), func(t *testing.T) {
			d := tt.r.Reply(load(t, tt.file), tt.port)
			if tt.noReason != "" {
				if d.Reply != nil || d.Reason != tt.noReason {
					t.Fatalf("reply %v reason %q, want none for %q", d.Reply != nil, d.Reason, tt.noReason)
				}
				return
			}
			m := d.Reply
			if m == nil {
				t.Fatalf("no reply: %s", d.Reason)
			}
			if m.MessageType() != tt.typ || m.YourIPAddr.String() != tt.yiaddr {
				t.Errorf("%s yiaddr %s, want %s %s", m.MessageType(), m.YourIPAddr, tt.typ, tt.yiaddr)
			}
			if m.BootFileName != tt.boot || m.BootFileNameOption() != tt.boot {
				t.Errorf("boot file %q / option 67 %q, want %q", m.BootFileName, m.BootFileNameOption(), tt.boot)
			}
			if got := m.ClassIdentifier(); got != tt.class {
				t.Errorf("option 60 %q, want %q", got, tt.class)
			}
			if !m.ServerIdentifier().Equal(net.IPv4(10, 77, 0, 1)) || !m.ServerIPAddr.Equal(net.IPv4(10, 77, 0, 1)) {
				t.Errorf("server id %s next-server %s", m.ServerIdentifier(), m.ServerIPAddr)
			}
			if tt.r.cfg.Mode == Full && m.IPAddressLeaseTime(0) != time.Hour {
				t.Errorf("lease %s", m.IPAddressLeaseTime(0))
			}
		})
	}
}

// Requests that must get nothing, or a NAK.
func TestRefusals(t *testing.T) {
	r, _ := New(labConfig(Full))
	stranger := load(t, "ipxe-discover.bin")
	stranger.ClientHWAddr = mustMAC("52:54:00:99:99:99")
	wrongIP := load(t, "bmcinit-request.bin")
	wrongIP.UpdateOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 77, 1, 2)))
	otherServer := load(t, "bmcinit-request.bin")
	otherServer.UpdateOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 77, 0, 9)))
	release := load(t, "bmcinit-request.bin")
	release.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeRelease))
	reply := load(t, "ipxe-discover.bin")
	reply.OpCode = dhcpv4.OpcodeBootReply
	tests := []struct {
		name   string
		req    *dhcpv4.DHCPv4
		reason string
		nak    bool
	}{
		{"unknown MAC", stranger, IgnoreUnknownMAC, false},
		{"another node's address", wrongIP, NakWrongAddress, true},
		{"chose another server", otherServer, IgnoreOtherServer, false},
		{"release", release, IgnoreMessageType, false},
		{"a reply on the server port", reply, IgnoreNotBootstrap, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := r.Reply(tt.req, PortDHCP)
			if d.Reason != tt.reason || (d.Reply != nil) != tt.nak {
				t.Fatalf("reason %q reply %v, want %q nak=%v", d.Reason, d.Reply != nil, tt.reason, tt.nak)
			}
			if tt.nak && d.Reply.MessageType() != dhcpv4.MessageTypeNak {
				t.Fatalf("reply %s, want NAK", d.Reply.MessageType())
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	node := func(addr string) Host {
		return Host{Name: "n", MAC: mustMAC("52:54:00:00:00:07"), Addr: netip.MustParseAddr(addr), Loader: LoaderIPXE}
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"outside the subnet", func(c *Config) { c.Hosts = []Host{node("10.78.0.5")} }, "outside 10.77.0.0/16"},
		{"the server's address", func(c *Config) { c.Hosts = []Host{node("10.77.0.1")} }, "bmcctld's own"},
		{"the broadcast address", func(c *Config) { c.Hosts = []Host{node("10.77.255.255")} }, "broadcast"},
		{"no address in full mode", func(c *Config) { c.Hosts = []Host{{Name: "n", MAC: mustMAC("52:54:00:00:00:07")}} }, "no address"},
		{"shared address", func(c *Config) { c.Hosts[1].Addr = c.Hosts[0].Addr }, "share address"},
		{"same MAC twice", func(c *Config) { c.Hosts[1].MAC = c.Hosts[0].MAC }, "named twice"},
		{"server outside", func(c *Config) { c.ServerIP = netip.MustParseAddr("192.0.2.1") }, "outside"},
		{"not a URL", func(c *Config) { c.BootURL = "10.77.0.1:8150" }, "not http"},
		{"short lease", func(c *Config) { c.LeaseTime = time.Second }, "under a minute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := labConfig(Full)
			tt.edit(&c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want %q", err, tt.want)
			}
		})
	}
	// Proxy mode needs no addresses.
	c := labConfig(Proxy)
	c.Hosts[0].Addr, c.Hosts[1].Addr = netip.Addr{}, netip.Addr{}
	if _, err := New(c); err != nil {
		t.Fatalf("proxy without addresses: %v", err)
	}
}

// FuzzReply: no request, however mangled, makes Reply panic or answer a
// MAC it does not know.
func FuzzReply(f *testing.F) {
	for _, c := range captures {
		b, err := os.ReadFile(filepath.Join("testdata", "requests", c.file))
		if err == nil {
			f.Add(b)
		}
	}
	full, _ := New(labConfig(Full))
	proxy, _ := New(labConfig(Proxy))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		for _, r := range []*Responder{full, proxy} {
			for _, p := range []Port{PortDHCP, PortProxy} {
				d := r.Reply(req, p)
				if d.Reply == nil {
					continue
				}
				if _, ok := r.Host(req.ClientHWAddr); !ok {
					t.Fatalf("answered unknown MAC %s", req.ClientHWAddr)
				}
				if _, err := dhcpv4.FromBytes(d.Reply.ToBytes()); err != nil {
					t.Fatalf("reply does not parse: %v", err)
				}
			}
		}
	})
}
