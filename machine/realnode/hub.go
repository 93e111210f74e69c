// Package realnode drives a real (or lab) machine for the controller's life
// cycle: power through its BMC driver, the network boot through the boot
// server, the node agent's callbacks gathered in an AgentHub, and the job's
// command over SSH with a per-job key and the host key pinned at boot. It
// implements machine.Machine.
package realnode

import (
	"log/slog"
	"sync"
	"time"

	"github.com/bmc-sched/bmc/agent/proto"
	"github.com/bmc-sched/bmc/boot"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/machine"
)

// AgentHub receives the node agents' callbacks from the boot server and
// hands each to the machine waiting for that boot.
type AgentHub struct {
	log      *slog.Logger
	clk      clock.Clock
	mu       sync.Mutex
	boots    map[hubKey]*bootWatch
	energy   func(machine.EnergyReading) // set by OnEnergy
	security func(machine.SecurityEvent) // set by OnSecurity
}

// OnEnergy makes f receive every energy counter a heartbeat carries;
// Controller.AgentEnergy is the one the daemon uses. Call it before the
// hub receives heartbeats.
func (h *AgentHub) OnEnergy(f func(machine.EnergyReading)) {
	h.mu.Lock()
	h.energy = f
	h.mu.Unlock()
}

type hubKey struct{ job, boot uint64 }

type bootWatch struct {
	ready    chan proto.Ready // buffered: the first Ready wins
	failed   chan string
	aborted  chan machine.SecurityEvent // buffered: the boot server aborted the boot
	lastBeat time.Time
	phase    string
}

// NewAgentHub returns an empty hub.
func NewAgentHub(clk clock.Clock, log *slog.Logger) *AgentHub {
	return &AgentHub{log: log, clk: clk, boots: map[hubKey]*bootWatch{}}
}

func (h *AgentHub) watch(jobID, bootN uint64) *bootWatch {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := hubKey{jobID, bootN}
	w, ok := h.boots[k]
	if !ok {
		w = &bootWatch{ready: make(chan proto.Ready, 1), failed: make(chan string, 1), aborted: make(chan machine.SecurityEvent, 1)}
		h.boots[k] = w
	}
	return w
}

func (h *AgentHub) forget(jobID uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.boots {
		if k.job == jobID {
			delete(h.boots, k)
		}
	}
}

// Progress logs a boot phase; an "error" phase fails the boot at once.
func (h *AgentHub) Progress(b *boot.Boot, p proto.Progress) {
	h.log.Info("agent progress", "job", b.JobID, "node", b.Node, "phase", p.Phase, "detail", p.Detail, "uptime", p.Uptime)
	w := h.watch(b.JobID, b.Boot)
	h.mu.Lock()
	w.phase = p.Phase
	h.mu.Unlock()
	if p.Phase == "error" {
		select {
		case w.failed <- p.Detail:
		default:
		}
	}
}

// Ready hands the agent's host key to the waiting machine. The boot server
// passes on only a boot's first Ready, from the node's own address.
func (h *AgentHub) Ready(b *boot.Boot, r proto.Ready) {
	h.log.Info("agent ready", "job", b.JobID, "node", b.Node, "addresses", r.Addresses, "uptime", r.Uptime)
	select {
	case h.watch(b.JobID, b.Boot).ready <- r:
	default:
	}
}

// lastBeat is when the agent of one boot last sent a heartbeat; zero when
// none came since this controller started.
func (h *AgentHub) lastBeat(jobID, bootN uint64) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if w, ok := h.boots[hubKey{jobID, bootN}]; ok {
		return w.lastBeat
	}
	return time.Time{}
}

// Heartbeat records that the agent is alive and passes on the energy
// counter it read, if any.
func (h *AgentHub) Heartbeat(b *boot.Boot, hb proto.Heartbeat) {
	w := h.watch(b.JobID, b.Boot)
	now := h.clk.Now()
	h.mu.Lock()
	w.lastBeat = now
	sink := h.energy
	h.mu.Unlock()
	h.passEnergy(sink, b, hb.EnergyUJ, hb.EnergyMaxUJ)
}

// passEnergy hands a RAPL counter reading the agent sent (if it sent one)
// to the sink, dated now.
func (h *AgentHub) passEnergy(sink func(machine.EnergyReading), b *boot.Boot, uj, maxUJ *uint64) {
	if uj == nil || sink == nil {
		return
	}
	r := machine.EnergyReading{Job: b.JobID, Boot: b.Boot, Time: h.clk.Now(), UJ: *uj}
	if maxUJ != nil {
		r.MaxUJ = *maxUJ
	}
	sink(r)
}

// OnSecurity makes f receive every security event (Controller.SecurityEvent
// and the metric). Call it before the hub receives callbacks.
func (h *AgentHub) OnSecurity(f func(machine.SecurityEvent)) {
	h.mu.Lock()
	h.security = f
	h.mu.Unlock()
}

// Conflict is the boot server's word that b was aborted: the machine
// waiting for it stops waiting, and the event is recorded.
func (h *AgentHub) Conflict(b *boot.Boot, c boot.Conflict) {
	ev := machine.SecurityEvent{Job: b.JobID, Boot: b.Boot, Node: b.Node, Kind: c.Kind, Remote: c.Remote, Route: c.Route}
	w := h.watch(b.JobID, b.Boot)
	h.mu.Lock()
	sink := h.security
	h.mu.Unlock()
	select {
	case w.aborted <- ev:
	default:
	}
	if sink != nil {
		sink(ev)
	}
}
