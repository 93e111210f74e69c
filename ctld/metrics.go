package ctld

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/job"
)

// Metrics are the controller's Prometheus series, on the daemon's own
// registry, with every label value created up front and none per job.
type Metrics struct {
	Registry   *prometheus.Registry
	jobs       *prometheus.GaugeVec
	submitted  prometheus.Counter
	passSecs   prometheus.Histogram
	pending    prometheus.Gauge
	powerErrs  *prometheus.CounterVec
	bootSecs   prometheus.Histogram
	nodeStates *prometheus.GaugeVec
	watts      *prometheus.GaugeVec
	energy     *prometheus.CounterVec
	// Energy quotas (quota.go): the part of each limit used, and the
	// warnings at 80 % and 100 %.
	quotaUsed     *prometheus.GaugeVec
	quotaWarnings *prometheus.CounterVec
	reconciler    *prometheus.CounterVec
	flushFails    prometheus.Counter
}

// NewMetrics registers the series.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		jobs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bmc_jobs", Help: "Jobs known to the controller by state (ended jobs until they age out).",
		}, []string{"state"}),
		submitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bmc_jobs_submitted_total", Help: "Jobs (array tasks count one each) accepted.",
		}),
		passSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "bmc_scheduler_pass_seconds", Help: "Duration of one scheduling pass.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bmc_scheduler_waiting_jobs", Help: "Waiting jobs seen by the last pass.",
		}),
		powerErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bmc_bmc_call_errors_total", Help: "Failed BMC calls by node.",
		}, []string{"node"}),
		bootSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "bmc_boot_duration_seconds", Help: "Power on to node agent ready.",
			Buckets: []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 120, 300},
		}),
		nodeStates: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bmc_nodes", Help: "Machines by state.",
		}, []string{"state"}),
	}
	m.watts = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bmc_machine_power_watts", Help: "Last power reading of each machine (0 when off; none before its first reading).",
	}, []string{"node"})
	m.energy = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bmc_energy_joules_total", Help: "Energy written to the ledger, by account (\"\" for jobs without one).",
	}, []string{"account"})
	m.quotaUsed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bmc_energy_quota_used_ratio", Help: "Energy used in the current period over the limit, by budget (kind account or user).",
	}, []string{"kind", "name"})
	m.quotaWarnings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bmc_energy_quota_warnings_total", Help: "Energy budgets that reached 80 or 100 percent of their limit in a period.",
	}, []string{"kind", "name", "percent"})
	m.reconciler = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bmc_reconciler_actions_total", Help: "Actions of the reconciler (each also a node or job event), by action.",
	}, []string{"action"})
	m.flushFails = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bmc_power_sample_flush_failures_total", Help: "Failed writes of power samples to the state file (each retried at the next reading).",
	})
	for _, st := range job.AllStates {
		m.jobs.WithLabelValues(string(st))
	}
	for _, a := range ReconcilerActions {
		m.reconciler.WithLabelValues(a)
	}
	m.Registry.MustRegister(m.jobs, m.submitted, m.passSecs, m.pending, m.powerErrs, m.bootSecs, m.nodeStates, m.watts, m.energy,
		m.quotaUsed, m.quotaWarnings, m.reconciler, m.flushFails)
	return m
}

// Hooks connects the metrics to a controller.
func (m *Metrics) Hooks() Hooks {
	return Hooks{
		JobState: func(from, to job.State) {
			if from == "" {
				m.submitted.Inc()
			}
		},
		SchedPass: func(d time.Duration, waiting, assigned int) {
			m.passSecs.Observe(d.Seconds())
			m.pending.Set(float64(waiting))
		},
		PowerError: func(node string, err error) { m.powerErrs.WithLabelValues(node).Inc() },
		BootDone:   func(node string, d time.Duration) { m.bootSecs.Observe(d.Seconds()) },
		Billed:     func(account string, joules float64) { m.energy.WithLabelValues(account).Add(joules) },
		QuotaWarning: func(kind, name string, percent int) {
			m.quotaWarnings.WithLabelValues(kind, name, strconv.Itoa(percent)).Inc()
		},
		Reconciled:        func(action string) { m.reconciler.WithLabelValues(action).Inc() },
		SampleFlushFailed: func(string) { m.flushFails.Inc() },
	}
}

// Collect refreshes gauges that are cheaper to compute on scrape.
func (m *Metrics) Collect(c *Controller) {
	byState := map[job.State]int{}
	c.mu.RLock()
	for _, j := range c.jobs {
		byState[j.State]++
	}
	c.mu.RUnlock()
	m.flushFails = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bmc_power_sample_flush_failures_total", Help: "Failed writes of power samples to the state file (each retried at the next reading).",
	})
	for _, st := range job.AllStates {
		m.jobs.WithLabelValues(string(st)).Set(float64(byState[st]))
	}
	counts := map[string]int{}
	for _, n := range c.Nodes() {
		counts[n.State]++
		switch {
		case n.Watts != nil:
			m.watts.WithLabelValues(n.Name).Set(*n.Watts)
		case n.Power == "off":
			m.watts.WithLabelValues(n.Name).Set(0)
		}
	}
	for _, q := range c.Quota().Quotas {
		if q.Kind == assoc.KindAccount {
			m.energy.WithLabelValues(q.Name) // accounts with a quota show from the start
		}
		m.quotaUsed.WithLabelValues(q.Kind, q.Name).Set(q.UsedJ / q.LimitJ)
	}
	m.nodeStates.Reset()
	for _, st := range []string{"IDLE", "IDLE-ON", "ALLOCATED", "DOWN", "DRAINING", "DRAINED"} {
		m.nodeStates.WithLabelValues(st).Set(float64(counts[st]))
	}
}
