package sim

// A simulated machine's commands: starting one, waiting for it, and what
// became of the last few (kept for Status after they ended).

import (
	"context"
	"fmt"
	"time"

	"github.com/bmc-sched/bmc/job"
)

// KilledExit is the exit code Status reports for a command the power-off killed.
const KilledExit = -1

// maxJobs bounds the job history kept for Status after the command ended.
const maxJobs = 16

// jobRec is one command the machine ran or runs.
type jobRec struct {
	ID       uint64        `json:"id"`
	Start    time.Time     `json:"start"`
	Runtime  time.Duration `json:"runtime"`
	Load     float64       `json:"load"`
	ExitCode int           `json:"exit_code"`
	KilledAt time.Time     `json:"killed_at,omitzero"` // set when a power-off cut it short
}

// end is when the command stops drawing load: its natural end or the kill.
func (j *jobRec) end() time.Time {
	natural := j.Start.Add(j.Runtime)
	if !j.KilledAt.IsZero() && j.KilledAt.Before(natural) {
		return j.KilledAt
	}
	return natural
}

func (j *jobRec) killed() bool {
	return !j.KilledAt.IsZero() && j.KilledAt.Before(j.Start.Add(j.Runtime))
}

// Start runs the job's simulated command. Starting a job the machine already
// runs or ran since it was last switched on attaches to it instead of running
// it again, so a restarted controller can call Start blindly; a job from an
// earlier power session (requeued to the same machine) runs anew. A zero spec runs nothing for zero time.
func (m *Machine) Start(ctx context.Context, jobID uint64, s job.SimSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.Runtime < 0 {
		return fmt.Errorf("%s: job %d: negative runtime", m, jobID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clk.Now()
	prev := m.find(jobID)
	if prev >= 0 && m.st.On && !m.st.Jobs[prev].Start.Before(m.st.OnAt) {
		return nil // started in this power session: attach
	}
	if !m.st.On {
		return fmt.Errorf("%s: start job %d: %w", m, jobID, ErrPoweredOff)
	}
	if !m.readyLocked(now) {
		return fmt.Errorf("%s: start job %d: %w", m, jobID, ErrNotReady)
	}
	for i := range m.st.Jobs {
		if j := &m.st.Jobs[i]; now.Before(j.end()) {
			return fmt.Errorf("%s: start job %d while job %d runs: %w", m, jobID, j.ID, ErrBusy)
		}
	}
	next := m.settled(now)
	next.Jobs = append([]jobRec(nil), next.Jobs...)
	if prev >= 0 {
		// A run from an earlier power session (killed, or a job requeued to
		// the same machine): this is a new run, not an attach.
		next.Jobs = append(next.Jobs[:prev], next.Jobs[prev+1:]...)
	}
	next.Jobs = append(next.Jobs, jobRec{
		ID: jobID, Start: now, Runtime: time.Duration(s.Runtime),
		Load: min(max(s.Load, 0), 1), ExitCode: s.ExitCode,
	})
	if len(next.Jobs) > maxJobs {
		next.Jobs = next.Jobs[len(next.Jobs)-maxJobs:]
	}
	if err := m.commit(next); err != nil {
		return err
	}
	m.log.Info("simulated command started", "node", m.name, "job", jobID,
		"runtime", time.Duration(s.Runtime), "load", s.Load)
	return nil
}

// Wait blocks until the job's command ends and returns its exit code. It
// fails with ErrPoweredOff if a power-off killed the command.
func (m *Machine) Wait(ctx context.Context, jobID uint64) (int, error) {
	for {
		m.mu.Lock()
		i := m.find(jobID)
		if i < 0 {
			m.mu.Unlock()
			return 0, fmt.Errorf("%s: job %d: %w", m, jobID, ErrUnknownJob)
		}
		j, now, changed := m.st.Jobs[i], m.clk.Now(), m.changed
		froze := m.frozeLocked(&j)
		m.mu.Unlock()
		switch {
		case j.killed():
			return KilledExit, fmt.Errorf("%s: job %d killed at %s: %w", m, jobID, j.KilledAt.Format(time.RFC3339), ErrPoweredOff)
		case froze:
			// A frozen system reports no end, whatever the model says.
		case !now.Before(j.end()):
			return j.ExitCode, nil
		}
		var wake <-chan time.Time
		if !froze {
			wake = m.clk.After(j.end().Sub(now))
		}
		select {
		case <-wake:
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Status says whether the job's command still runs, and if not how and when it
// ended (exit KilledExit when a power-off cut it). known is false for a job this
// machine never ran (or has forgotten: it keeps the last 16).
func (m *Machine) Status(jobID uint64) (running bool, exit int, ended time.Time, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.find(jobID)
	if i < 0 {
		return false, 0, time.Time{}, false
	}
	j, now := m.st.Jobs[i], m.clk.Now()
	if now.Before(j.end()) || m.frozeLocked(&j) {
		return true, 0, time.Time{}, true
	}
	if j.killed() {
		return false, KilledExit, j.KilledAt, true
	}
	return false, j.ExitCode, j.end(), true
}

func (m *Machine) find(jobID uint64) int {
	for i := range m.st.Jobs {
		if m.st.Jobs[i].ID == jobID {
			return i
		}
	}
	return -1
}
