package dhcpd

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Client is what kind of DHCP client asked, from its user class (77) and
// vendor class (60).
type Client string

const (
	ClientIPXE Client = "ipxe" // user class "iPXE": fetches the chain script over HTTP
	ClientHTTP Client = "http" // vendor class HTTPClient: UEFI HTTP Boot
	ClientPXE  Client = "pxe"  // vendor class PXEClient without iPXE: a plain PXE ROM
	ClientOS   Client = "os"   // anything else: an operating system (bmcinit) wanting an address
)

// Classify tells the client's kind. iPXE also says PXEClient in option 60,
// so its user class is looked at first.
func Classify(m *dhcpv4.DHCPv4) Client {
	if slices.Contains(m.UserClass(), "iPXE") {
		return ClientIPXE
	}
	switch vc := m.ClassIdentifier(); {
	case strings.HasPrefix(vc, "HTTPClient"):
		return ClientHTTP
	case strings.HasPrefix(vc, "PXEClient"):
		return ClientPXE
	}
	return ClientOS
}

// Port says where a request arrived: the DHCP port or the PXE proxy port.
type Port int

const (
	PortDHCP  Port = dhcpv4.ServerPort // 67
	PortProxy Port = 4011
)

// Why a request gets no reply (or a NAK); the values label metrics and logs.
const (
	IgnoreUnknownMAC   = "unknown_mac"
	IgnoreNotBootstrap = "not_bootstrap" // a reply, not a request; or not Ethernet
	IgnoreOtherServer  = "other_server"  // the client chose another server's offer
	IgnoreMessageType  = "message_type"  // RELEASE, DECLINE, INFORM, ...
	IgnoreNotFirmware  = "not_firmware"  // proxy mode: only boot firmware is answered
	IgnoreProxyRequest = "proxy_request" // proxy mode: a REQUEST on 67 is for the site's server
	NakWrongAddress    = "wrong_address" // the client asked for an address that is not its own
)

// Decision is the outcome of one request.
type Decision struct {
	Reply  *dhcpv4.DHCPv4 // nil: send nothing
	Host   Host           // zero when the MAC is unknown
	Client Client
	Reason string // why there is no reply, or why it is a NAK
	Boot   string // the boot file given, if any
}

// Reply decides the answer to req, which arrived on port.
func (r *Responder) Reply(req *dhcpv4.DHCPv4, port Port) Decision {
	d := Decision{Client: Classify(req)}
	if req.OpCode != dhcpv4.OpcodeBootRequest || req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		d.Reason = IgnoreNotBootstrap
		return d
	}
	h, ok := r.byMAC[req.ClientHWAddr.String()]
	if !ok {
		d.Reason = IgnoreUnknownMAC
		return d
	}
	d.Host = h
	mt := req.MessageType()
	if r.cfg.Mode == Proxy {
		return r.proxyReply(req, port, mt, d)
	}
	if port != PortDHCP {
		d.Reason = IgnoreMessageType
		return d
	}
	var reply dhcpv4.MessageType
	switch mt {
	case dhcpv4.MessageTypeDiscover:
		reply = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(ip(r.cfg.ServerIP)) {
			d.Reason = IgnoreOtherServer
			return d
		}
		want := req.RequestedIPAddress()
		if want == nil || want.IsUnspecified() {
			want = req.ClientIPAddr
		}
		if !want.Equal(ip(h.Addr)) {
			d.Reason = NakWrongAddress
			d.Reply = r.base(req, dhcpv4.MessageTypeNak)
			d.Reply.UpdateOption(dhcpv4.OptMessage("not your address"))
			return d
		}
		reply = dhcpv4.MessageTypeAck
	default:
		d.Reason = IgnoreMessageType
		return d
	}
	m := r.base(req, reply)
	m.YourIPAddr = ip(h.Addr)
	m.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(r.cfg.Subnet.Bits(), 32)))
	m.UpdateOption(dhcpv4.OptIPAddressLeaseTime(r.cfg.LeaseTime))
	m.UpdateOption(dhcpv4.OptRenewTimeValue(r.cfg.LeaseTime / 2))
	m.UpdateOption(dhcpv4.OptRebindingTimeValue(r.cfg.LeaseTime * 7 / 8))
	m.UpdateOption(dhcpv4.OptHostName(h.Name))
	if r.cfg.Router.IsValid() {
		m.UpdateOption(dhcpv4.OptRouter(ip(r.cfg.Router)))
	}
	d.Boot = r.bootOptions(m, req, h, d.Client)
	if d.Client == ClientIPXE {
		// iPXE waits about two seconds for a proxyDHCP offer unless the
		// DHCP offer says there is none (option 175.176, "no-pxedhcp").
		m.UpdateOption(dhcpv4.OptGeneric(optIPXEEncap, []byte{ipxeNoPXEDHCP, 1, 1}))
	}
	d.Reply = m
	return d
}

// iPXE's encapsulated options (option 175) and its "no-pxedhcp" setting.
const (
	optIPXEEncap  = dhcpv4.GenericOptionCode(175)
	ipxeNoPXEDHCP = 176
)

// proxyReply answers boot firmware beside the site's DHCP server: an OFFER
// without an address to its DISCOVER on 67, an ACK to its REQUEST on 4011.
func (r *Responder) proxyReply(req *dhcpv4.DHCPv4, port Port, mt dhcpv4.MessageType, d Decision) Decision {
	if d.Client == ClientOS {
		d.Reason = IgnoreNotFirmware
		return d
	}
	var reply dhcpv4.MessageType
	switch {
	case port == PortDHCP && mt == dhcpv4.MessageTypeDiscover:
		reply = dhcpv4.MessageTypeOffer
	case port == PortDHCP && mt == dhcpv4.MessageTypeRequest:
		d.Reason = IgnoreProxyRequest
		return d
	case port == PortProxy && (mt == dhcpv4.MessageTypeRequest || mt == dhcpv4.MessageTypeInform):
		reply = dhcpv4.MessageTypeAck
	default:
		d.Reason = IgnoreMessageType
		return d
	}
	m := r.base(req, reply)
	m.ClientIPAddr = req.ClientIPAddr
	d.Boot = r.bootOptions(m, req, d.Host, d.Client)
	if d.Boot == "" {
		// A proxy offer without a boot file tells the firmware nothing.
		d.Reason = IgnoreNotFirmware
		return d
	}
	// A proxy offer must say PXEClient even to iPXE (PXE 2.1, 2-4).
	if d.Client != ClientHTTP {
		m.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
	}
	d.Reply = m
	return d
}

// base is a reply of type t to req from this server.
func (r *Responder) base(req *dhcpv4.DHCPv4, t dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	m, _ := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(t),
		dhcpv4.WithServerIP(ip(r.cfg.ServerIP)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(ip(r.cfg.ServerIP))),
	)
	// NewReplyFromRequest fails only when crypto/rand does; a reply copies the
	// request's transaction id and never draws one.
	return m
}

// bootOptions adds the boot file the client needs, and returns it.
func (r *Responder) bootOptions(m, req *dhcpv4.DHCPv4, h Host, c Client) string {
	var file string
	switch {
	case c == ClientIPXE && h.Loader == LoaderIPXE && r.cfg.IPXEPath != "":
		file = r.cfg.BootURL + r.cfg.IPXEPath
	case c == ClientHTTP && h.Loader == LoaderGRUB && r.cfg.GRUBPath != "" && isARM64(req):
		file = r.cfg.BootURL + r.cfg.GRUBPath
		// UEFI HTTP Boot takes only an offer that echoes its class.
		m.UpdateOption(dhcpv4.OptClassIdentifier("HTTPClient"))
	case c == ClientOS && h.Loader == LoaderGRUB && r.cfg.GRUBPath != "":
		// GRUB's own net_bootp says no class; its embedded config finds the
		// controller in this URL. The node agent's DHCP ignores the file.
		file = r.cfg.BootURL + r.cfg.GRUBPath
	case c == ClientPXE && h.Loader == LoaderIPXE && r.cfg.PXEFile != "":
		file = r.cfg.PXEFile
		srv := r.cfg.TFTPServer
		if srv == "" {
			srv = r.cfg.ServerIP.String()
		}
		m.UpdateOption(dhcpv4.OptTFTPServerName(srv))
		m.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
	default:
		return ""
	}
	m.BootFileName = file
	m.UpdateOption(dhcpv4.OptBootFileName(file))
	return file
}

// isARM64 reports whether the client says it is an arm64 UEFI machine
// (option 93), or says nothing about its architecture.
func isARM64(req *dhcpv4.DHCPv4) bool {
	archs := req.ClientArch()
	if len(archs) == 0 {
		return true
	}
	for _, a := range archs {
		if a == iana.EFI_ARM64 || a == iana.EFI_ARM64_HTTP {
			return true
		}
	}
	return false
}

func ip(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }
