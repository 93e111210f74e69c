package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/bmc-sched/bmc/ctld"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/node"
)

// realMachines wires BMC drivers and the network boot path for real nodes.
func realMachines(ctx context.Context, f *flags, cfgs []node.Config, clk clock.Clock, log *slog.Logger) ([]ctld.NodeMachine, error) {
	return nil, fmt.Errorf("node %s: protocol %q: the real boot path is not wired yet", cfgs[0].Name, cfgs[0].BMC.Protocol)
}
