package ctld

import (
	"context"
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
	// MinJobAge keeps ended jobs in the default queue listing this long (like Slurm's).
	MinJobAge time.Duration
	// WaitPoll bounds one long-poll of GET /v1/jobs/{id}/wait.
	WaitPoll time.Duration
	// Reconcile tunes the reconciler (reconcile.go).
	Reconcile ReconcileConfig
	// Energy: power sampling, tariffs and quotas (energy.go).
	Energy EnergyConfig
	// ImagePlatforms says which architectures an image offers (nil: not
	// checked at submit; the boot fails instead).
	ImagePlatforms func(ctx context.Context, ref string) ([]string, error)
}

// DefaultConfig returns the settings used when flags say nothing.
func DefaultConfig() Config {
	return Config{
		StateDir:        "/var/lib/bmc",
		Scheduler:       scheduler.DefaultConfig(),
		MaxBootAttempts: 3,
		PowerOffGrace:   20 * time.Second,
		SchedInterval:   2 * time.Second,
		MinJobAge:       5 * time.Minute,
		WaitPoll:        25 * time.Second,
		Reconcile:       DefaultReconcileConfig(),
	}
}

func (c Config) bootTimeout(expected time.Duration) time.Duration {
	if c.BootTimeout > 0 {
		return c.BootTimeout
	}
	return max(4*expected, 60*time.Second)
}
