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
	"github.com/bmc-sched/bmc/job"
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

// KilledExit is the exit code Status reports for a command the power-off killed.
const KilledExit = -1

// stateVersion is bumped when the file layout changes incompatibly.
const stateVersion = 1

// maxJobs bounds the job history kept for Status after the command ended.
const maxJobs = 16

// Errors a simulated machine returns; wrap-checked with errors.Is.
var (
	ErrPoweredOff = errors.New("simulated machine is powered off")
	ErrNotReady   = errors.New("simulated machine has not finished booting")
	ErrBusy       = errors.New("simulated machine is running another command")
	ErrUnknownJob = errors.New("simulated machine never ran this job")
)

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

// state is the persisted truth of one machine.
type state struct {
	Version  int       `json:"version"`
	Name     string    `json:"name"`
	Model    Model     `json:"model"`
	On       bool      `json:"on"`
	OnAt     time.Time `json:"on_at,omitzero"`
	OffAt    time.Time `json:"off_at,omitzero"`
	Joules   float64   `json:"joules"`    // energy used up to JoulesAt
	JoulesAt time.Time `json:"joules_at"` // settle point of Joules
	Jobs     []jobRec  `json:"jobs,omitempty"`
}

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
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clk.Now()
	return power.Reading{
		Time:    now,
		Watts:   m.watts(&m.st, now),
		Joules:  m.st.Joules + m.energy(&m.st, m.st.JoulesAt, now),
		Counter: true,
	}, nil
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

// settled returns a copy of the state with energy accounted up to now, the
// point every change starts from (the power model changes only at changes).
func (m *Machine) settled(now time.Time) state {
	next := m.st
	if now.After(next.JoulesAt) {
		next.Joules += m.energy(&m.st, next.JoulesAt, now)
		next.JoulesAt = now
	}
	return next
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

// commit persists next, then makes it the truth and wakes waiters. Nothing
// changes in memory when the write fails.
func (m *Machine) commit(next state) error {
	if err := m.save(next); err != nil {
		return err
	}
	m.st = next
	m.wakeLocked()
	return nil
}

// save writes st atomically: temp file, fsync, rename, fsync of the directory,
// so a crash leaves either the old or the new truth on disk.
func (m *Machine) save(st state) error {
	if m.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: encode state: %w", m, err)
	}
	dir := filepath.Dir(m.path)
	f, err := os.CreateTemp(dir, "."+m.name+".*.tmp")
	if err != nil {
		return fmt.Errorf("%s: save state: %w", m, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this finds nothing
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("%s: save state: %w", m, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%s: save state: %w", m, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: save state: %w", m, err)
	}
	if err := os.Rename(tmp, m.path); err != nil {
		return fmt.Errorf("%s: save state: %w", m, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%s: save state: %w", m, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("%s: save state: %w", m, err)
	}
	return nil
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
