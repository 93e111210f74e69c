package simnode

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power/sim"
)

// Kinds are the two kinds of simulated machine `bmcctld --sim N` starts,
// alternating. The figures are model values, not measurements of hardware.
var Kinds = []struct {
	Config node.Config
	Model  sim.Model
}{
	{
		Config: node.Config{Arch: "x86_64", Kind: "sim-x86", Cores: 8, Memory: 32 << 30, Features: []string{"sim"}},
		Model:  sim.Model{Kind: "sim-x86", Arch: "x86_64", BootTime: 3 * time.Second, IdleWatts: 90, PeakWatts: 250},
	},
	{
		Config: node.Config{Arch: "aarch64", Kind: "sim-arm", Cores: 8, Memory: 16 << 30, Features: []string{"sim"}},
		Model:  sim.Model{Kind: "sim-arm", Arch: "aarch64", BootTime: 2 * time.Second, IdleWatts: 25, PeakWatts: 70},
	},
}

// Cluster returns n simulated nodes named sim001… of alternating kinds,
// each persisting its machine state under dir.
func Cluster(n int, dir string, clk clock.Clock, log *slog.Logger) ([]machine.Node, error) {
	var out []machine.Node
	for i := 0; i < n; i++ {
		k := Kinds[i%len(Kinds)]
		cfg := k.Config
		cfg.Name = fmt.Sprintf("sim%03d", i+1)
		cfg.ExpectedBoot = k.Model.BootTime
		cfg.BMC = node.BMC{Protocol: "sim", SimIdleWatts: k.Model.IdleWatts, SimPeakWatts: k.Model.PeakWatts}
		m, err := sim.Open(dir, cfg.Name, k.Model, clk, sim.WithLogger(log))
		if err != nil {
			return nil, err
		}
		out = append(out, machine.Node{Config: cfg, Machine: Machine{m}})
	}
	return out, nil
}

// New builds the machine of a nodes-file entry with protocol "sim".
func New(cfg node.Config, dir string, clk clock.Clock, log *slog.Logger) (machine.Machine, error) {
	model := sim.Model{Kind: cfg.Kind, Arch: cfg.Arch, BootTime: cfg.ExpectedBoot,
		IdleWatts: cfg.BMC.SimIdleWatts, PeakWatts: cfg.BMC.SimPeakWatts}
	if model.Kind == "" {
		model.Kind = "sim-" + cfg.Arch
	}
	m, err := sim.Open(filepath.Clean(dir), cfg.Name, model, clk, sim.WithLogger(log))
	if err != nil {
		return nil, err
	}
	return Machine{m}, nil
}
