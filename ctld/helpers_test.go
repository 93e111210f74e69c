package ctld

import (
	"errors"
	"sync/atomic"

	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/machine/simnode"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power/sim"
	"github.com/bmc-sched/bmc/store"
)

// faultStore makes the controller's commits fail while failing is set, as a
// full disk or an I/O error would: the closure never runs, nothing is written.
type faultStore struct {
	*store.Store
	failing   atomic.Bool
	failBatch atomic.Bool // only Batch fails (sample flushes, submits)
	failView  atomic.Bool // only View fails (reads)
	failed    atomic.Int64
	// onUpdate, when set, runs before each Update (inside the caller's
	// locks): tests see what the controller holds while it commits.
	onUpdate atomic.Pointer[func()]
}

var errInjected = errors.New("injected: no space left on device")

func (f *faultStore) Update(fn func(*store.Tx) error) error {
	if hook := f.onUpdate.Load(); hook != nil {
		(*hook)()
	}
	if f.failing.Load() {
		f.failed.Add(1)
		return errInjected
	}
	return f.Store.Update(fn)
}

func (f *faultStore) View(fn func(*store.Tx) error) error {
	if f.failView.Load() {
		f.failed.Add(1)
		return errInjected
	}
	return f.Store.View(fn)
}

func (f *faultStore) Batch(fn func(*store.Tx) error) error {
	if f.failing.Load() || f.failBatch.Load() {
		f.failed.Add(1)
		return errInjected
	}
	return f.Store.Batch(fn)
}

// sim returns the simulated machine behind a node, to inject faults into.
func (h *harness) sim(name string) *sim.Machine {
	h.t.Helper()
	for _, nm := range h.machines {
		if nm.Config.Name != name {
			continue
		}
		m := nm.Machine
		for {
			switch x := m.(type) {
			case simnode.Machine:
				return x.Machine
			case interface{ Unwrap() machine.Machine }:
				m = x.Unwrap()
				continue
			}
			h.t.Fatalf("node %s is no simulated machine: %T", name, m)
		}
	}
	h.t.Fatalf("no node %s", name)
	return nil
}

// action is how often the reconciler took an action so far.
func (h *harness) action(name string) int {
	h.actMu.Lock()
	defer h.actMu.Unlock()
	return h.actions[name]
}

// nodeEvents is a node's history as stored.
func (h *harness) nodeEvents(name string) []node.Event {
	var evs []node.Event
	h.st.View(func(tx *store.Tx) error { evs, _ = tx.NodeEvents(name); return nil })
	return evs
}

func nodeActions(evs []node.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Action)
	}
	return out
}
