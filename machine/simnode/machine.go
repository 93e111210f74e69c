// Package simnode adapts power/sim machines to the controller's life cycle
// (machine.Machine): booting is waiting out the model's boot time and
// running is the job's [sim] table. It also builds the simulated clusters
// of bmcctld --sim N and the nodes-file entries with protocol "sim".
package simnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/power/sim"
)

// DefaultRuntime is how long a job without a [sim] table "runs" on a
// simulated machine.
const DefaultRuntime = 2 * time.Second

// Machine adapts a power/sim machine to the life cycle: booting is waiting
// out the model's boot time and running is the job's [sim] table.
type Machine struct {
	*sim.Machine
}

var (
	_ machine.Machine = Machine{}
	_ machine.Contact = Machine{}
	_ power.Meter     = Machine{}
	_ machine.Reuser  = simSession{}
)

func (Machine) Simulated() bool { return true }

// LastContact is when the simulated node agent was last heard: it answers
// for as long as the machine is on and not frozen.
func (m Machine) LastContact(*job.Job) time.Time              { return m.Machine.LastContact() }
func (Machine) Prepare(ctx context.Context, j *job.Job) error { return ctx.Err() }
func (Machine) Finish(*job.Job)                               {}

func (m Machine) WaitReady(ctx context.Context, j *job.Job) (machine.Session, error) {
	if err := m.Machine.WaitReady(ctx); err != nil {
		if errors.Is(err, sim.ErrPoweredOff) {
			return nil, fmt.Errorf("%w: %w", machine.ErrNoSignOfLife, err)
		}
		return nil, err
	}
	return simSession{m: m.Machine}, nil
}

func (m Machine) Resume(ctx context.Context, j *job.Job) (machine.Session, error) {
	st, err := m.PowerState(ctx)
	if err != nil {
		return nil, err
	}
	// A machine that is on and booted but never saw the command lost
	// nothing: the controller stopped between RUNNING and the start, and
	// Run will start it now. One that is off lost the job.
	if _, _, _, known := m.Status(RunKey(j)); st != power.On || (!known && !m.Ready()) {
		return nil, fmt.Errorf("%w: simulated machine is %s and does not know job %d", machine.ErrLost, st, j.ID)
	}
	return simSession{m: m.Machine, resumed: true}, nil
}

// RunKey is the simulator's key for one run of j. It tells two runs of one
// requeued job apart: the simulator attaches when it sees a key again,
// which is right only within one boot.
func RunKey(j *job.Job) uint64 { return j.ID<<16 | j.Boot&0xffff }

type simSession struct {
	m       *sim.Machine
	resumed bool
}

func (s simSession) Run(ctx context.Context, j *job.Job, stdout, stderr io.Writer, outOff, errOff int64) (int, error) {
	spec := job.SimSpec{Runtime: job.Duration(DefaultRuntime), Load: 0.5}
	if j.Spec.Sim != nil {
		spec = *j.Spec.Sim
	}
	if err := s.m.Start(ctx, RunKey(j), spec); err != nil {
		return 0, err
	}
	if outOff == 0 {
		fmt.Fprintf(stdout, "[simulated] node %s (%s): %s ran for %s at load %.2f\n",
			s.m.Name(), s.m.Model().Kind, strings.Join(j.Spec.Command.Argv, " "),
			time.Duration(spec.Runtime), spec.Load)
	}
	code, err := s.m.Wait(ctx, RunKey(j))
	if errors.Is(err, sim.ErrPoweredOff) {
		return code, fmt.Errorf("%w: %w", machine.ErrLost, err)
	}
	if err == nil && code != 0 && errOff == 0 {
		fmt.Fprintf(stderr, "[simulated] exit status %d\n", code)
	}
	return code, err
}

func (simSession) PowerOff(context.Context) error { return power.ErrUnsupported }
func (simSession) Close() error                   { return nil }

// Reset hands the simulated machine to the next job at once: the model
// keeps no root to clean, and its jobs are told apart by RunKey.
func (s simSession) Reset(ctx context.Context, next *job.Job) (machine.Session, error) {
	if !s.m.On() {
		return nil, fmt.Errorf("%w: reset: %w", machine.ErrLost, sim.ErrPoweredOff)
	}
	return simSession{m: s.m}, ctx.Err()
}

// Kexec succeeds on a simulated x86_64 machine (the model is ready again at
// once) and is refused on aarch64, like Debian's arm64 kernel, which has no
// kexec_file_load.
func (s simSession) Kexec(ctx context.Context, next *job.Job) error {
	if s.m.Model().Arch == "aarch64" {
		return fmt.Errorf("%w: simulated aarch64 kernel: kexec_file_load: function not implemented (no CONFIG_KEXEC_FILE)", machine.ErrReuseRefused)
	}
	if !s.m.On() {
		return fmt.Errorf("%w: kexec: %w", machine.ErrLost, sim.ErrPoweredOff)
	}
	return ctx.Err()
}
