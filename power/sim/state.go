package sim

// The machine's persisted truth: one JSON file per machine, written
// atomically, from which every answer is computed.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// stateVersion is bumped when the file layout changes incompatibly.
const stateVersion = 1

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
