package main

import (
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/bmc-sched/bmc/internal/connlimit"
)

// connFlags are the caps and timeouts that keep bmcctld answering when
// someone opens connections and sends nothing: on the user socket, counted
// per uid (root and the admin group have slots of their own), and on the
// node listener, counted per address (a connection there is nobody's until
// its request shows a token).
type connFlags struct {
	apiMax, apiPerUser, apiReserve int
	apiRead, apiIdle               time.Duration
	nodeMax, nodePerHost           int
	nodeRead, nodeIdle             time.Duration
}

func (c *connFlags) register(fl *pflag.FlagSet) {
	fl.IntVar(&c.apiMax, "api-max-conns", 4096, "open connections to the user socket from all users together (0: no cap)")
	fl.IntVar(&c.apiPerUser, "api-max-conns-per-user", 256, "open connections to the user socket from one uid (0: no cap)")
	fl.IntVar(&c.apiReserve, "api-admin-conns", 64, "connections root and the admin group may open beyond --api-max-conns")
	fl.DurationVar(&c.apiRead, "api-read-timeout", 10*time.Second, "how long a client of the user socket may take to send its request")
	fl.DurationVar(&c.apiIdle, "api-idle-timeout", time.Minute, "how long an idle HTTP connection to the user socket stays open")
	fl.IntVar(&c.nodeMax, "node-max-conns", 1024, "open connections to --node-listen from all addresses together (0: no cap)")
	fl.IntVar(&c.nodePerHost, "node-max-conns-per-host", 32, "open connections to --node-listen from one address (0: no cap)")
	fl.DurationVar(&c.nodeRead, "node-read-timeout", 30*time.Second, "how long a node may take to send its request to --node-listen")
	fl.DurationVar(&c.nodeIdle, "node-idle-timeout", time.Minute, "how long an idle connection to --node-listen stays open")
}

// api caps the user socket's connections.
func (c *connFlags) api(ln net.Listener, peer connlimit.Peer, reg prometheus.Registerer) net.Listener {
	l := connlimit.Wrap(ln, connlimit.Limits{Total: c.apiMax, PerPeer: c.apiPerUser, Reserve: c.apiReserve}, peer)
	register(reg, "api", l)
	return l
}

// register shows a capped listener's open and refused connections on
// /metrics, so an operator sees a flood (and whom the caps held off).
func register(reg prometheus.Registerer, listener string, l *connlimit.Listener) {
	labels := prometheus.Labels{"listener": listener}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bmc_connections_open", ConstLabels: labels,
			Help: "Connections open on a bmcctld listener."}, func() float64 { return float64(l.Open()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bmc_connections_refused_total", ConstLabels: labels,
			Help: "Connections closed unanswered because a connection cap was reached."}, func() float64 { return float64(l.Refused()) }),
	)
}

// apiServer sets the user socket's HTTP timeouts. No write timeout: a
// wait on a job's next change may last as long as the job.
func (c *connFlags) apiServer(s *http.Server) *http.Server {
	s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout = c.apiRead, c.apiRead, c.apiIdle
	return s
}

// node caps the node listener's connections and sets its timeouts. No
// write timeout: a slow node may take long to fetch a big image.
func (c *connFlags) node(ln net.Listener, s *http.Server, reg prometheus.Registerer) net.Listener {
	s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout = c.nodeRead, c.nodeRead, c.nodeIdle
	l := connlimit.Wrap(ln, connlimit.Limits{Total: c.nodeMax, PerPeer: c.nodePerHost}, connlimit.ByHost{})
	register(reg, "node", l)
	return l
}
