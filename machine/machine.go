// Package machine is the contract between the controller's life cycle and
// what drives one node: the Machine and Session interfaces, the optional
// interfaces a machine may add (agent contact, meter, boot facts, a pinned
// host key, a session that hands its machine to the next job), the errors a machine wraps so the life cycle blames the right
// party, and the events a node's boot reports (security conflicts, in-band
// energy readings). The adapters live below it: machine/realnode (the real
// boot path) and machine/simnode (the simulator). It imports nothing of the
// controller, so both sides can import it.
package machine

import (
	"context"
	"errors"
	"io"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/power"
)

// Machine is what the life cycle needs of one node beyond its BMC: getting a
// job's boot ready, waiting for the node agent, and reconnecting to a command
// after a controller restart. The simulator and the real boot path implement it.
type Machine interface {
	power.Driver
	// Prepare readies j's boot (kernel, initrd, image, tokens). It may take
	// seconds and fails for reasons that are the job's, not the node's.
	Prepare(ctx context.Context, j *job.Job) error
	// WaitReady blocks until the node agent of j's boot is up.
	WaitReady(ctx context.Context, j *job.Job) (Session, error)
	// Resume reconnects to j's command, started before the controller restarted.
	Resume(ctx context.Context, j *job.Job) (Session, error)
	// Finish drops what Prepare made (tokens); called once the job leaves the node.
	Finish(j *job.Job)
	// Simulated is true for power/sim machines; bmcq labels them.
	Simulated() bool
}

// Session is a booted node running (or ready to run) one job's command.
type Session interface {
	// Run starts the command, or re-attaches when the session came from
	// Resume, writing output past the given offsets, and returns its exit code.
	Run(ctx context.Context, j *job.Job, stdout, stderr io.Writer, outOff, errOff int64) (int, error)
	// PowerOff asks the node to switch itself off (in-band). It may return
	// power.ErrUnsupported; the BMC then does it.
	PowerOff(ctx context.Context) error
	Close() error
}

// Errors machines wrap so the life cycle can blame the right party.
var (
	// ErrNoSignOfLife: the node never asked for its boot script: the node's fault.
	ErrNoSignOfLife = errors.New("node showed no sign of life")
	// ErrBootFailed: the node booted but the job's kernel, initrd or image did not come up.
	ErrBootFailed = errors.New("boot failed")
	// ErrLost: the node stopped answering while it held the job.
	ErrLost = errors.New("lost contact with node")
	// ErrJobInput: the job names something that cannot be booted (unknown image, kernel).
	ErrJobInput = errors.New("job input")
	// ErrBootAborted: the boot met a security conflict (boot.Conflict) and was
	// stopped before the job's command, environment, image or output was
	// handed to anyone. It is nobody's failure: the job goes back to the
	// queue without a boot attempt counted, the node is switched off, and the
	// next boot gets fresh tokens.
	ErrBootAborted = errors.New("boot aborted on a security conflict")
)
