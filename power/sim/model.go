package sim

import (
	"time"

	"github.com/bmc-sched/bmc/node"
)

// DefaultBootTime is the boot time of a simulated machine whose node entry
// gives none: what a virtual-lab machine takes from power on to ssh (vlab.md).
const DefaultBootTime = 15 * time.Second

// archWatts are made-up but plausible idle and peak draws per architecture,
// used when a node entry gives none. They are model values, not measurements.
var archWatts = map[string][2]float64{
	"x86_64":  {90, 350},
	"aarch64": {40, 180},
}

// ModelFor builds the model of a simulated node from its nodes-file entry:
// kind (default the arch), boot time (ExpectedBoot, default 15 s), and idle
// and peak watts (bmc.sim_idle_watts / sim_peak_watts, default per arch).
func ModelFor(c node.Config) Model {
	m := Model{Kind: c.Kind, Arch: c.Arch, BootTime: c.ExpectedBoot,
		IdleWatts: c.BMC.SimIdleWatts, PeakWatts: c.BMC.SimPeakWatts}
	if m.Kind == "" {
		m.Kind = c.Arch
	}
	if m.BootTime <= 0 {
		m.BootTime = DefaultBootTime
	}
	w, ok := archWatts[c.Arch]
	if !ok {
		w = archWatts["x86_64"]
	}
	if m.IdleWatts <= 0 {
		m.IdleWatts = w[0]
	}
	if m.PeakWatts <= 0 {
		m.PeakWatts = max(w[1], m.IdleWatts)
	}
	return m
}
