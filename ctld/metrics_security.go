package ctld

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bmc-sched/bmc/boot"
	"github.com/bmc-sched/bmc/dhcpd"
	"github.com/bmc-sched/bmc/machine"
)

// NetMetrics are the provisioning network's series: security events by
// kind and DHCP decisions by outcome, every label value created up front.
type NetMetrics struct {
	security *prometheus.CounterVec
	dhcp     *prometheus.CounterVec
}

// dhcpOutcomes are the DHCP metric's label values: a reply type, or why none.
var dhcpOutcomes = []string{"OFFER", "ACK", "NAK", dhcpd.IgnoreUnknownMAC, dhcpd.IgnoreNotBootstrap,
	dhcpd.IgnoreOtherServer, dhcpd.IgnoreMessageType, dhcpd.IgnoreNotFirmware, dhcpd.IgnoreProxyRequest}

// NewNetMetrics registers the series on the controller's registry.
func (m *Metrics) NewNetMetrics() *NetMetrics {
	n := &NetMetrics{
		security: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bmc_security_events_total", Help: "Boots aborted on a security conflict, by kind (boot.ConflictKind).",
		}, []string{"kind"}),
		dhcp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bmc_dhcp_requests_total", Help: "DHCP requests by outcome: the reply sent, or why none.",
		}, []string{"outcome"}),
	}
	for _, k := range boot.ConflictKinds {
		n.security.WithLabelValues(string(k))
	}
	for _, o := range dhcpOutcomes {
		n.dhcp.WithLabelValues(o)
	}
	m.Registry.MustRegister(n.security, n.dhcp)
	return n
}

// Security counts one security event.
func (n *NetMetrics) Security(ev machine.SecurityEvent) {
	n.security.WithLabelValues(string(ev.Kind)).Inc()
}

// DHCP counts one DHCP decision.
func (n *NetMetrics) DHCP(d dhcpd.Decision) {
	switch {
	case d.Reply != nil:
		n.dhcp.WithLabelValues(d.Reply.MessageType().String()).Inc()
	case d.Reason != "":
		n.dhcp.WithLabelValues(d.Reason).Inc()
	}
}
