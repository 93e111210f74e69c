package machine

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/bmc-sched/bmc/boot"
)

// SecurityEvent is a conflict on one boot, as the controller records it.
type SecurityEvent struct {
	Job, Boot uint64
	Node      string // the node whose boot it was
	Kind      boot.ConflictKind
	Remote    netip.Addr // where the offending request came from
	Route     string
}

func (e SecurityEvent) String() string {
	return fmt.Sprintf("security event %s: %s from %s", e.Kind, e.Route, e.Remote)
}

// EnergyReading is one in-band energy counter value a node agent sent
// (RAPL energy_uj), stamped on the controller's clock when it arrived.
type EnergyReading struct {
	Job, Boot uint64
	Time      time.Time
	UJ        uint64
	// MaxUJ is the counter's max_energy_range_uj (it wraps to 0 after
	// it); 0 when the agent did not say.
	MaxUJ uint64
}
