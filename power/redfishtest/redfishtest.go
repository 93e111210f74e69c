// Package redfishtest owns a small Redfish BMC written for tests and for the
// virtual lab: it serves the part of the DMTF schema that bmc's drivers,
// bmclib's and gofish's Redfish clients, and Debian's redfishtool use — the
// service root, sessions and basic auth, one ComputerSystem with its
// PowerState, ComputerSystem.Reset action and BootSourceOverride (PATCH), and
// one Chassis with Power (PowerControl[0].PowerConsumedWatts) and
// EnvironmentMetrics (PowerWatts and a cumulative EnergykWh counter).
//
// What it switches is a Machine and what it reports comes from a Meter, so
// the same server fronts an in-memory switch in unit tests and a QEMU process
// in the lab (scripts/vlabredfish). Its energy counter is degraded as a real
// one is: it moves only on its own update period, in steps of its resolution,
// from a configurable lifetime value.
package redfishtest

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/internal/clock"
)

// Machine is what the BMC switches.
type Machine interface {
	PowerOn(ctx context.Context) error
	// PowerOff switches the machine off; graceful asks its OS first where
	// the machine can (a GracefulShutdown reset).
	PowerOff(ctx context.Context, graceful bool) error
	Running() bool
}

// Meter is what the BMC measures: the watts its sensor shows now and the
// machine's cumulative energy, which feeds the BMC's counter.
type Meter interface {
	Watts() (float64, error)
	Joules() (float64, error)
}

// CounterConfig degrades the Meter's joules into the EnergykWh a BMC shows.
type CounterConfig struct {
	// StartKWh is the counter's lifetime value when the BMC starts (a
	// machine that has run for years shows tens of MWh).
	StartKWh float64
	// Period is how often the counter moves (0: on every read).
	Period time.Duration
	// ResolutionKWh is the counter's step (0: none).
	ResolutionKWh float64
}

// Options shape the BMC. Zero values take the defaults.
type Options struct {
	User     string // default "admin"
	Password string // default "password"
	// SystemID and ChassisID name the two resources (default "1").
	SystemID, ChassisID string
	Machine             Machine // default an in-memory switch
	Meter               Meter   // default none: 0 W and no EnvironmentMetrics
	Counter             CounterConfig
	// NoEnergyCounter leaves EnvironmentMetrics out of the chassis: a BMC
	// that reports watts only.
	NoEnergyCounter bool
	Clock           clock.Clock // default the wall clock
}

// ResetTypes are the ComputerSystem.Reset values the BMC accepts.
var ResetTypes = []string{"On", "ForceOff", "GracefulShutdown", "ForceRestart", "PowerCycle"}

// BootTargets are the BootSourceOverrideTarget values the BMC accepts.
var BootTargets = []string{"None", "Pxe", "UefiHttp", "Hdd"}

// Server is one Redfish BMC; it is an http.Handler.
type Server struct {
	o   Options
	mux *http.ServeMux

	mu       sync.Mutex
	sessions map[string]string // token → session id
	nextID   int
	resets   []string
	boot     bootOverride
	counter  float64 // kWh shown
	nextTick time.Time
	ticked   bool
}

type bootOverride struct {
	Target, Enabled, Mode string
}

// New returns a BMC; it reads its counter once, at start.
func New(o Options) *Server {
	if o.User == "" {
		o.User = "admin"
	}
	if o.Password == "" {
		o.Password = "password"
	}
	if o.SystemID == "" {
		o.SystemID = "1"
	}
	if o.ChassisID == "" {
		o.ChassisID = "1"
	}
	if o.Machine == nil {
		o.Machine = &Switch{}
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	s := &Server{o: o, sessions: map[string]string{},
		boot: bootOverride{Target: "None", Enabled: "Disabled", Mode: "UEFI"}}
	s.routes()
	s.Tick()
	return s
}

// Tick moves the energy counter if its period has passed: the lab calls it
// on a ticker so the counter moves on its own schedule, not on reads.
// Reading a broken meter leaves the counter where it was.
func (s *Server) Tick() {
	if s.o.Meter == nil {
		return
	}
	now := s.o.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ticked && s.o.Counter.Period > 0 && now.Before(s.nextTick) {
		return
	}
	j, err := s.o.Meter.Joules()
	if err != nil {
		return
	}
	kwh := s.o.Counter.StartKWh + j/accounting.JoulesPerKWh
	if r := s.o.Counter.ResolutionKWh; r > 0 {
		kwh = r * math.Floor(kwh/r)
	}
	s.counter = kwh
	if s.o.Counter.Period > 0 {
		// Stay on the period's grid however late the tick came.
		if !s.ticked {
			s.nextTick = now
		}
		for !s.nextTick.After(now) {
			s.nextTick = s.nextTick.Add(s.o.Counter.Period)
		}
	}
	s.ticked = true
}

// Run ticks the counter on its period until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	p := s.o.Counter.Period
	if p <= 0 {
		p = time.Second
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.o.Clock.After(p):
			s.Tick()
		}
	}
}

// EnergyKWh is the counter as the BMC shows it now.
func (s *Server) EnergyKWh() float64 {
	if s.o.Counter.Period <= 0 {
		s.Tick()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counter
}

// Resets returns the ResetType of every reset action so far, in order.
func (s *Server) Resets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.resets...)
}

// BootTarget returns the BootSourceOverrideTarget and its Enabled value.
func (s *Server) BootTarget() (target, enabled string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.boot.Target, s.boot.Enabled
}

// Sessions returns how many sessions are open.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// reset runs one ComputerSystem.Reset.
func (s *Server) reset(ctx context.Context, kind string) error {
	m := s.o.Machine
	switch kind {
	case "On":
		if m.Running() {
			return nil
		}
		return m.PowerOn(ctx)
	case "ForceOff":
		return m.PowerOff(ctx, false)
	case "GracefulShutdown":
		return m.PowerOff(ctx, true)
	case "ForceRestart", "PowerCycle":
		if err := m.PowerOff(ctx, false); err != nil {
			return err
		}
		return m.PowerOn(ctx)
	}
	return errBadReset
}

var errBadReset = errors.New("unknown ResetType")

// Switch is an in-memory Machine: on or off, nothing else.
type Switch struct {
	mu sync.Mutex
	on bool
}

// PowerOn implements Machine.
func (w *Switch) PowerOn(context.Context) error { w.set(true); return nil }

// PowerOff implements Machine.
func (w *Switch) PowerOff(context.Context, bool) error { w.set(false); return nil }

// Running implements Machine.
func (w *Switch) Running() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.on
}

func (w *Switch) set(on bool) {
	w.mu.Lock()
	w.on = on
	w.mu.Unlock()
}
