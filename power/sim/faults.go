package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bmc-sched/bmc/power"
)

// Faults are failures a test injects into a simulated machine, to see the
// controller cope with what real machines do: a BMC that refuses a
// power-off or stops answering, an operating system that freezes. They live
// in memory only; a reopened machine has none.
type Faults struct {
	// RefuseOff makes the next RefuseOff power-off calls fail with
	// ErrRefused: the BMC answers, the machine stays on.
	RefuseOff int
	// Unreachable makes every BMC call (power on, off, state, reading) fail
	// at once with power.ErrUnreachable; the machine itself goes on.
	Unreachable bool
	// Stall makes every BMC call block until its context ends or the faults
	// change: a BMC that stops answering in the middle of a call.
	Stall bool
	// Frozen hangs the operating system: the running command never ends,
	// a boot never completes and the node agent falls silent, until the
	// machine is switched off (which clears it).
	Frozen bool
}

// ErrRefused is the error of a power-off that Faults.RefuseOff refuses.
var ErrRefused = errors.New("simulated BMC refused the power-off")

// SetFaults replaces the machine's injected faults and wakes every call
// that waits on them.
func (m *Machine) SetFaults(f Faults) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f.Frozen && !m.faults.Frozen {
		m.frozenAt = m.clk.Now()
	}
	m.faults = f
	m.log.Info("simulated faults set", "node", m.name, "refuse_off", f.RefuseOff,
		"unreachable", f.Unreachable, "stall", f.Stall, "frozen", f.Frozen)
	m.wakeLocked()
}

// Faults returns the faults in force (RefuseOff counts down as it refuses).
func (m *Machine) Faults() Faults {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.faults
}

// LastContact is when the machine's node agent was last heard: now while it
// is on and answers, the moment it froze, zero while it is off.
func (m *Machine) LastContact() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case !m.st.On:
		return time.Time{}
	case m.faults.Frozen:
		return m.frozenAt
	}
	return m.clk.Now()
}

// bmc is the gate every BMC call passes first.
func (m *Machine) bmc(ctx context.Context, call string) error {
	for {
		m.mu.Lock()
		f, changed := m.faults, m.changed
		m.mu.Unlock()
		switch {
		case f.Unreachable:
			return fmt.Errorf("%s: %s: %w", m, call, power.ErrUnreachable)
		case f.Stall:
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: %s: %w: %w", m, call, power.ErrTimeout, ctx.Err())
			case <-changed:
				continue
			}
		}
		return ctx.Err()
	}
}

// wakeLocked wakes everything that waits for a change of the machine.
func (m *Machine) wakeLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// frozeLocked reports whether j was running when the machine froze: it
// then runs on, as far as anyone can tell, until the power-off.
func (m *Machine) frozeLocked(j *jobRec) bool {
	return m.faults.Frozen && j.KilledAt.IsZero() && !j.Start.After(m.frozenAt) && m.frozenAt.Before(j.end())
}

// On is the machine's true power state, whatever its BMC says: the ground
// truth a test (or the lab's meter) checks the controller against.
func (m *Machine) On() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.On
}
