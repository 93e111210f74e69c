package scheduler

import (
	"errors"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

func TestFeasible(t *testing.T) {
	cluster := []*node.Node{
		with(idle("x1"), func(n *node.Node) { n.State = node.Down }), // state does not matter
		with(idle("x2"), func(n *node.Node) { n.Features = []string{"ssd"}; n.Drain = true }),
		with(idle("g1"), func(n *node.Node) { n.Features = []string{"gpu"}; n.Partitions = []string{"gpu"}; n.Cores = 32 }),
	}
	arm := append(cluster, with(idle("a1"), func(n *node.Node) { n.Arch = "aarch64"; n.Partitions = []string{"arm"} }))
	tests := []struct {
		name  string
		nodes []*node.Node
		spec  func(*job.Spec)
		err   string // "" = feasible
	}{
		{"fits a down node", cluster, func(s *job.Spec) {}, ""},
		{"fits with feature", cluster, func(s *job.Spec) { s.Features = []string{"ssd"} }, ""},
		{"unknown partition", cluster, func(s *job.Spec) { s.Partition = "debug" },
			`partition "debug" has no nodes (cluster has batch, gpu)`},
		{"arch", cluster, func(s *job.Spec) { s.Arch = "aarch64"; s.Partition = "gpu" },
			`no node in partition "gpu" has arch "aarch64" (it has x86_64)`},
		{"arch whole cluster", []*node.Node{idle("x")}, func(s *job.Spec) { s.Arch = "aarch64" },
			`no node has arch "aarch64" (cluster has x86_64)`},
		{"arch in other partition", arm, func(s *job.Spec) { s.Arch = "aarch64" },
			`no node in partition "batch" has arch "aarch64" (it has x86_64)`},
		{"arch any", arm, func(s *job.Spec) { s.Arch = "any"; s.Partition = "arm" }, ""},
		{"feature missing", cluster, func(s *job.Spec) { s.Features = []string{"ssd", "gpu"} },
			`no node has features [gpu]`},
		{"features not together", []*node.Node{with(idle("a"), func(n *node.Node) { n.Features = []string{"ssd"} }),
			with(idle("b"), func(n *node.Node) { n.Features = []string{"gpu"} })},
			func(s *job.Spec) { s.Features = []string{"ssd", "gpu"} }, `no node has features [gpu ssd] together`},
		{"cores", cluster, func(s *job.Spec) { s.Cores = 64 }, `needs 64 cores; the largest matching node has 8`},
		{"cores in partition", cluster, func(s *job.Spec) { s.Cores = 64; s.Partition = "gpu" },
			`needs 64 cores; the largest matching node has 32`},
		{"memory", cluster, func(s *job.Spec) { s.Memory = 20 * gib }, `needs 20 GiB memory; the largest matching node has 16 GiB`},
		{"node count", cluster, func(s *job.Spec) { s.Nodes = 3 }, `nodes = 3: multi-node jobs are not supported yet`},
		{"empty cluster", nil, func(s *job.Spec) {}, `partition "batch" has no nodes (cluster has none)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := pending(1, time.Minute)
			tt.spec(j.Spec)
			err := Feasible(j.Spec, tt.nodes, testCfg(true))
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Feasible = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrNeverFits) {
				t.Fatalf("Feasible = %v, want ErrNeverFits", err)
			}
			if want := ErrNeverFits.Error() + ": " + tt.err; err.Error() != want {
				t.Errorf("error\n got %q\nwant %q", err, want)
			}
		})
	}
}
