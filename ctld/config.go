package ctld

import (
	"time"

	"github.com/bmc-sched/bmc/scheduler"
)

// Config is everything bmcctld is told at start.
type Config struct {
	StateDir   string
	AdminGroup string // members may act on any job and drain nodes; root always may
	Scheduler  scheduler.Config

	// MaxBootAttempts bounds how often a job is booted before BOOT_FAIL.
	MaxBootAttempts int
	// BootTimeout bounds power-on → agent ready; 0 = 4 × the node's expected boot, at least 60 s.
	BootTimeout time.Duration
	// PowerOffGrace is how long the in-band power-off may take before the BMC forces it.
	PowerOffGrace time.Duration
	// SchedInterval is the longest gap between scheduling passes.
	SchedInterval time.Duration
	// SchedMinGap is the shortest gap between a pass and the next one a
	// change asks for (Slurm's sched_min_interval): changes within it share
	// one pass.
	SchedMinGap time.Duration
	// MinJobAge keeps ended jobs in the default queue listing this long (like Slurm's).
	MinJobAge time.Duration
	// WaitPoll bounds one long-poll of GET /v1/jobs/{id}/wait.
	WaitPoll time.Duration
	// Reconcile tunes the reconciler (reconcile.go).
	Reconcile ReconcileConfig
	// Energy: power sampling, tariffs and quotas (energy.go).
	Energy EnergyConfig
	// Images checks a job's image and kernel sources at submit (nil: not
	// checked; the boot fails instead). See ctld/image.go.
	Images ImageChecker
	// ImageRootUsers may set user = "root" in a job file besides admins.
	ImageRootUsers []string
	// EnforceAssociations makes every job's account one its user may
	// charge even before an admin defines accounts (assoc.go); without it a
	// cluster with no accounts takes any account name.
	EnforceAssociations bool
	// Limits bound how many jobs one user holds (limits.go).
	Limits Limits
	// FairShareHalfLife is how fast the energy fair share forgets: usage
	// that old counts half (fairshare.go); 0 means 7 days.
	FairShareHalfLife time.Duration
	// Reuse says when a running machine is handed to the next job without
	// a power cycle (reuse.go); "" is ReuseSameUser.
	Reuse ReusePolicy
}

// DefaultConfig returns the settings used when flags say nothing.
func DefaultConfig() Config {
	return Config{
		StateDir:        "/var/lib/bmc",
		Scheduler:       scheduler.DefaultConfig(),
		MaxBootAttempts: 3,
		PowerOffGrace:   20 * time.Second,
		SchedInterval:   2 * time.Second,
		SchedMinGap:     10 * time.Millisecond,
		MinJobAge:       5 * time.Minute,
		WaitPoll:        25 * time.Second,
		Reconcile:       DefaultReconcileConfig(),
		Limits:          DefaultLimits(),
	}
}

func (c Config) bootTimeout(expected time.Duration) time.Duration {
	if c.BootTimeout > 0 {
		return c.BootTimeout
	}
	return max(4*expected, 60*time.Second)
}
