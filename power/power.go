// Package power owns how bmc switches machines on and off and reads their power
// draw: one small set of interfaces, implemented on bmclib v2 (IPMI, Redfish,
// AMT, rpc), Wake-on-LAN, and the simulator in power/sim. It decides nothing
// about jobs.
package power

import (
	"context"
	"errors"
	"time"
)

// State is a machine's power state as its BMC reports it.
type State string

const (
	On      State = "on"
	Off     State = "off"
	Unknown State = "unknown"
)

// Setter switches a machine. Both calls are idempotent: "on" when on is fine.
type Setter interface {
	PowerOn(ctx context.Context) error
	PowerOff(ctx context.Context) error
}

// StateGetter reads the power state.
type StateGetter interface {
	PowerState(ctx context.Context) (State, error)
}

// BootDeviceSetter asks for a network boot on the next power on, where the BMC can.
type BootDeviceSetter interface {
	SetNextBootNetwork(ctx context.Context) error
}

// Reading is one power sample. Counter readings carry cumulative joules
// (Joules valid, Counter true); others carry instantaneous watts.
type Reading struct {
	Time    time.Time `json:"time"`
	Watts   float64   `json:"watts"`
	Joules  float64   `json:"joules,omitempty"`
	Counter bool      `json:"counter,omitempty"`
}

// Meter reads power.
type Meter interface {
	PowerReading(ctx context.Context) (Reading, error)
}

// DatedMeter is a Meter whose readings describe the past (a BMC's reading
// is a mean over a window it published late): each Reading.Time is up to
// Latency before the read, at the middle of the Window it averages. A
// sampler that wants the readings to cover an instant, such as a confirmed
// power-off, reads until one is dated Window/2 after it (the first whose
// window lies wholly after it), for at most Latency + Window/2.
type DatedMeter interface {
	Meter
	Latency() time.Duration
	Window() time.Duration
}

// Driver is what the controller needs of every machine's BMC.
type Driver interface {
	Setter
	StateGetter
	// Close releases sessions; the driver must not be used afterwards.
	Close() error
}

// Errors a driver wraps so the controller can tell causes apart with errors.Is.
var (
	ErrAuth        = errors.New("BMC rejected the credentials")
	ErrUnreachable = errors.New("BMC unreachable")
	ErrTimeout     = errors.New("BMC call timed out")
	ErrUnsupported = errors.New("not supported by this BMC")
)
