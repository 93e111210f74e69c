package machine

import (
	"context"
	"errors"
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

// Reuser is implemented by sessions whose machine can be handed to the next
// job of the same user without firmware, once their own job has ended.
// Prepare must have readied next's boot (its tokens) on the same machine.
// The controller alone decides when this is allowed: RAM survives both.
type Reuser interface {
	// Reset kills what is left of the old job and gives next a fresh root
	// on the running kernel; the returned session runs next's command.
	Reset(ctx context.Context, next *job.Job) (Session, error)
	// Kexec loads next's kernel and initrd into the running kernel and
	// jumps to it; WaitReady(next) then follows the new kernel's boot. An
	// error wrapping ErrReuseRefused means nothing was loaded.
	Kexec(ctx context.Context, next *job.Job) error
}

// ErrReuseRefused: the node refused to hand itself on (a kernel without
// kexec_file_load nor kexec-tools, a request it would not take); its old kernel still runs,
// without the old job. The controller power-cycles it instead.
var ErrReuseRefused = errors.New("node refused the reuse")
