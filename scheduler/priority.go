package scheduler

import (
	"time"

	"github.com/bmc-sched/bmc/job"
)

// Priority is the multifactor priority of a waiting job, as documented on
// Config: older jobs rise, wider jobs rise (so they are not starved by narrow
// ones), and nice lets a user step back. largestCores is the cores of the
// largest node in the cluster; the controller can call this before any pass
// has run to show a priority in bmcq.
func Priority(spec *job.Spec, submit, now time.Time, largestCores int, cfg Config) float64 {
	var p float64
	if cfg.AgeMax > 0 {
		wait := now.Sub(submit)
		if wait < 0 {
			wait = 0
		}
		if wait > cfg.AgeMax {
			wait = cfg.AgeMax
		}
		p += cfg.AgeWeight * float64(wait) / float64(cfg.AgeMax)
	}
	if largestCores > 0 && spec.Cores > 0 {
		p += cfg.SizeWeight * float64(spec.Cores) / float64(largestCores)
	}
	p -= cfg.NiceWeight * float64(spec.Nice) / 10000
	return p
}

// timeLimit is the limit backfill plans with: the job's own or the default.
func timeLimit(spec *job.Spec, cfg Config) time.Duration {
	if spec.TimeLimit > 0 {
		return time.Duration(spec.TimeLimit)
	}
	return cfg.DefaultTimeLimit
}
