package realnode

import (
	"context"
	"errors"
	"fmt"

	"github.com/bmc-sched/bmc/agent"
	"github.com/bmc-sched/bmc/boot"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
)

// prepared is the boot Prepare readied for j.
func (m *Machine) prepared(j *job.Job) (*boot.Boot, error) {
	m.factsMu.Lock()
	defer m.factsMu.Unlock()
	if f, ok := m.facts[j.ID]; ok && f.boot != nil && f.boot.Boot == j.Boot {
		return f.boot, nil
	}
	return nil, fmt.Errorf("job %d boot %d: no prepared boot to hand the machine to", j.ID, j.Boot)
}

// refused marks the agent's own refusals: it changed nothing, the old
// kernel runs on.
func refused(err error) error {
	var re *agent.RemoteError
	if errors.As(err, &re) {
		return fmt.Errorf("%w: %w", machine.ErrReuseRefused, err)
	}
	return err
}

// Reset asks the agent to kill what is left of the old job and unpack
// next's root with next's token, then dials it again with next's key. The
// host key stays the one pinned at boot: the agent keeps it across resets.
func (s *session) Reset(ctx context.Context, next *job.Job) (machine.Session, error) {
	b, err := s.m.prepared(next)
	if err != nil {
		return nil, err
	}
	if err := s.c.Reset(ctx, s.m.boots.ResetRequest(b)); err != nil {
		return nil, fmt.Errorf("reset: %w", refused(err))
	}
	s.c.Close() // the agent closed it: the old key works no more
	ns, err := s.m.connect(ctx, next, s.hostKey, s.addr, s.key, 20)
	if err != nil {
		return nil, fmt.Errorf("%w: after the reset: %w", machine.ErrBootFailed, err)
	}
	return ns, nil
}

// Kexec hands the agent next's kernel and initrd (single-use URLs) and its
// token; the new kernel's agent then reports Ready like after a network
// boot, which WaitReady(next) follows.
func (s *session) Kexec(ctx context.Context, next *job.Job) error {
	b, err := s.m.prepared(next)
	if err != nil {
		return err
	}
	if err := s.c.Kexec(ctx, s.m.boots.KexecRequest(b)); err != nil {
		return fmt.Errorf("kexec: %w", refused(err))
	}
	return nil
}
