// Package sim owns the simulated machine: a power state, a boot time, an idle
// and peak power model, and one "command" at a time that runs for a job's
// SimSpec runtime at its load and ends with its exit code. It backs the
// quick-start demo and scheduler tests with thousands of nodes.
//
// Nothing runs in the background: every answer is computed from the persisted
// facts (when the machine was switched on, when the command started, for how
// long it runs) and the clock. That is what lets a controller killed with -9
// reopen the same directory and learn the same truth a real machine would tell
// it: still on, or that the command ended at T with exit code X.
//
// Everything this package says about itself is labelled "simulated".
package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/power"
)

// Model is what a kind of simulated machine is like. These are model values,
// not measurements.
type Model struct {
	Kind      string        `json:"kind"`
	Arch      string        `json:"arch"`
	BootTime  time.Duration `json:"boot_time"` // power on → agent ready
	IdleWatts float64       `json:"idle_watts"`
	PeakWatts float64       `json:"peak_watts"`
}

// Errors a simulated machine returns; wrap-checked with errors.Is.
var (
	ErrPoweredOff = errors.New("simulated machine is powered off")
	ErrNotReady   = errors.New("simulated machine has not finished booting")
	ErrBusy       = errors.New("simulated machine is running another command")
	ErrUnknownJob = errors.New("simulated machine never ran this job")
)

// Machine is one simulated machine. It implements power.Driver and
// power.Meter. Safe for concurrent use.
type Machine struct {
	name  string
	model Model
	clk   clock.Clock
	path  string // "" = kept in memory only
	log   *slog.Logger

	mu       sync.Mutex
	st       state
	changed  chan struct{} // closed and replaced on every state or fault change
	faults   Faults        // injected by tests (faults.go)
	frozenAt time.Time
}

var (
	_ power.Driver = (*Machine)(nil)
	_ power.Meter  = (*Machine)(nil)
)

// Option tunes Open.
type Option func(*Machine)

// WithLogger sets where the machine logs its power and command events.
func WithLogger(l *slog.Logger) Option { return func(m *Machine) { m.log = l } }

// Open returns the simulated machine name whose state lives in dir
// (dir/name.json), creating it powered off if the file does not exist. An
// empty dir keeps the state in memory only, for tests with many machines that
// need no restart. The model given wins over the one on file, so an admin can
// change a machine's kind between runs.
func Open(dir, name string, m Model, clk clock.Clock, opts ...Option) (*Machine, error) {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return nil, fmt.Errorf("simulated machine: invalid name %q", name)
	}
	if m.PeakWatts < m.IdleWatts || m.IdleWatts < 0 {
		return nil, fmt.Errorf("simulated machine %s: peak %.1f W below idle %.1f W", name, m.PeakWatts, m.IdleWatts)
	}
	if m.BootTime < 0 {
		return nil, fmt.Errorf("simulated machine %s: negative boot time", name)
	}
	mc := &Machine{name: name, model: m, clk: clk, log: slog.New(slog.DiscardHandler), changed: make(chan struct{})}
	for _, o := range opts {
		o(mc)
	}
	now := clk.Now()
	mc.st = state{Version: stateVersion, Name: name, Model: m, JoulesAt: now}
	if dir == "" {
		return mc, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("simulated machine %s: %w", name, err)
	}
	mc.path = filepath.Join(dir, name+".json")
	b, err := os.ReadFile(mc.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := mc.save(mc.st); err != nil {
			return nil, err
		}
		return mc, nil
	case err != nil:
		return nil, fmt.Errorf("simulated machine %s: %w", name, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("simulated machine %s: corrupt state file %s: %w", name, mc.path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("simulated machine %s: state file version %d, want %d", name, st.Version, stateVersion)
	}
	if st.Name != name {
		return nil, fmt.Errorf("simulated machine %s: state file belongs to %q", name, st.Name)
	}
	st.Model = m
	mc.st = st
	return mc, nil
}

// String names the machine for logs.
func (m *Machine) String() string {
	return fmt.Sprintf("simulated machine %s (%s)", m.name, m.model.Kind)
}

// Name is the machine's name.
func (m *Machine) Name() string { return m.name }

// Model is the machine's model.
func (m *Machine) Model() Model { return m.model }

// PowerOn switches the machine on; the agent is ready BootTime later. On when
// already on is a no-op.
func (m *Machine) PowerOn(ctx context.Context) error {
	if err := m.bmc(ctx, "power on"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.On {
		return nil
	}
	now := m.clk.Now()
	next := m.settled(now)
	next.On, next.OnAt = true, now
	if err := m.commit(next); err != nil {
		return err
	}
	m.log.Info("simulated power on", "node", m.name, "ready_at", now.Add(m.model.BootTime))
	return nil
}

// PowerOff switches the machine off at once, killing a running command and
// clearing a freeze. Off when already off is a no-op.
func (m *Machine) PowerOff(ctx context.Context) error {
	if err := m.bmc(ctx, "power off"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.faults.RefuseOff > 0 {
		m.faults.RefuseOff--
		return fmt.Errorf("%s: power off: %w", m, ErrRefused)
	}
	if !m.st.On {
		m.faults.Frozen = false
		return nil
	}
	now := m.clk.Now()
	next := m.settled(now)
	next.On, next.OffAt = false, now
	next.Jobs = append([]jobRec(nil), next.Jobs...)
	for i := range next.Jobs {
		j := &next.Jobs[i]
		switch {
		case m.frozeLocked(j):
			j.KilledAt = m.frozenAt // it died when the machine froze
			m.log.Info("simulated command of a frozen machine ended by power off", "node", m.name, "job", j.ID)
		case j.KilledAt.IsZero() && now.Before(j.Start.Add(j.Runtime)):
			j.KilledAt = now
			m.log.Info("simulated command killed by power off", "node", m.name, "job", j.ID)
		}
	}
	m.faults.Frozen = false
	if err := m.commit(next); err != nil {
		return err
	}
	m.log.Info("simulated power off", "node", m.name)
	return nil
}

// PowerState reports on or off.
func (m *Machine) PowerState(ctx context.Context) (power.State, error) {
	if err := m.bmc(ctx, "power state"); err != nil {
		return power.Unknown, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.On {
		return power.On, nil
	}
	return power.Off, nil
}

// Close releases nothing: the machine lives on in its state file.
func (m *Machine) Close() error { return nil }

// PowerReading returns the model's instantaneous watts and the cumulative
// joules since the machine was first opened (Counter is set; both fields are
// valid).
func (m *Machine) PowerReading(ctx context.Context) (power.Reading, error) {
	if err := m.bmc(ctx, "power reading"); err != nil {
		return power.Reading{}, err
	}
	return m.Truth(), nil
}

// Truth is what PowerReading returns, read past the BMC and its faults:
// the draw and energy the simulation knows, which tests hold bills to
// while the BMC stalls or refuses.
func (m *Machine) Truth() power.Reading {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clk.Now()
	return power.Reading{
		Time:    now,
		Watts:   m.watts(&m.st, now),
		Joules:  m.st.Joules + m.energy(&m.st, m.st.JoulesAt, now),
		Counter: true,
	}
}

// Ready reports whether the machine is on and has finished booting.
func (m *Machine) Ready() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.readyLocked(m.clk.Now())
}

func (m *Machine) readyLocked(now time.Time) bool {
	return m.st.On && !m.faults.Frozen && !now.Before(m.st.OnAt.Add(m.model.BootTime))
}

// WaitReady blocks until the machine has booted. It fails with ErrPoweredOff
// if the machine is off or is switched off meanwhile.
func (m *Machine) WaitReady(ctx context.Context) error {
	for {
		m.mu.Lock()
		now := m.clk.Now()
		on, ready, changed, frozen := m.st.On, m.readyLocked(now), m.changed, m.faults.Frozen
		left := m.st.OnAt.Add(m.model.BootTime).Sub(now)
		m.mu.Unlock()
		switch {
		case !on:
			return fmt.Errorf("%s: wait for boot: %w", m, ErrPoweredOff)
		case ready:
			return nil
		}
		var wake <-chan time.Time
		if !frozen {
			wake = m.clk.After(left)
		}
		select {
		case <-wake:
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// watts is the model at instant t, valid for t after the last change.
func (m *Machine) watts(st *state, t time.Time) float64 {
	if !st.On {
		return 0
	}
	w := m.model.IdleWatts
	for i := range st.Jobs {
		j := &st.Jobs[i]
		if !t.Before(j.Start) && t.Before(j.end()) {
			w += (m.model.PeakWatts - m.model.IdleWatts) * j.Load
		}
	}
	return w
}

// energy integrates the model over [a, b), an interval with no change in it.
func (m *Machine) energy(st *state, a, b time.Time) float64 {
	if !st.On || !b.After(a) {
		return 0
	}
	e := m.model.IdleWatts * b.Sub(a).Seconds()
	for i := range st.Jobs {
		j := &st.Jobs[i]
		lo, hi := maxTime(a, j.Start), minTime(b, j.end())
		if hi.After(lo) {
			e += (m.model.PeakWatts - m.model.IdleWatts) * j.Load * hi.Sub(lo).Seconds()
		}
	}
	return e
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
