package machine

import (
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// Node pairs a node's configuration with the machine that drives it.
type Node struct {
	Config  node.Config
	Machine Machine
}

// Contact is implemented by machines whose node agent reports in.
type Contact interface {
	// LastContact is when j's agent was last heard from this boot; zero
	// when not since this controller started (then its silence says nothing).
	LastContact(j *job.Job) time.Time
}

// Metered is implemented by machines that know whether their node's power
// can be read out of band: the real boot path implements power.Meter
// whether or not the node has a meter, so it says itself.
type Metered interface {
	HasMeter() bool
}

// BootFacter is implemented by machines that resolve images and kernels
// (the real boot path); the simulator resolves nothing.
type BootFacter interface {
	// BootFacts returns the image digest and kernel name Prepare resolved for j.
	BootFacts(j *job.Job) (imageDigest, kernel string)
}

// Pinner is implemented by sessions that can be reconnected after a
// controller restart: the controller stores what Pin returns with the job.
type Pinner interface {
	Pin() (hostKey, addr string)
}
