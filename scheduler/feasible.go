package scheduler

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// ErrNeverFits is wrapped by Feasible when no node of the cluster could ever
// run the job, whatever their state: the controller rejects it at submit
// rather than letting it wait forever.
var ErrNeverFits = errors.New("job can never run on this cluster")

// Feasible reports whether spec could ever run on nodes, ignoring whether they
// are down, drained or busy. It walks the constraint chain — one node,
// partition, arch, features, cores, memory — and names the first one that
// leaves no node, with what the cluster offers instead.
func Feasible(spec *job.Spec, nodes []*node.Node, cfg Config) error {
	never := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrNeverFits}, args...)...)
	}
	if spec.Nodes > 1 {
		return never("nodes = %d: multi-node jobs are not supported yet", spec.Nodes)
	}
	k, feats := jobSig(spec, cfg.DefaultPartition)
	classes := buildClasses(nodes, cfg.DefaultPartition)

	// Each stage keeps the classes that pass every check so far.
	var cur []*class
	var parts []string
	for i := range classes {
		c := &classes[i]
		parts = append(parts, c.parts...)
		if partOK(c, &k) {
			cur = append(cur, c)
		}
	}
	if len(cur) == 0 {
		return never("partition %q has no nodes (cluster has %s)", k.part, list(parts))
	}
	inPart := len(cur) < len(classes)

	var archs []string
	next := cur[:0:0]
	for _, c := range cur {
		archs = append(archs, c.arch)
		if archOK(c, &k) {
			next = append(next, c)
		}
	}
	if len(next) == 0 {
		if inPart {
			return never("no node in partition %q has arch %q (it has %s)", k.part, k.arch, list(archs))
		}
		return never("no node has arch %q (cluster has %s)", k.arch, list(archs))
	}
	cur = next

	next = cur[:0:0]
	have := map[string]bool{}
	for _, c := range cur {
		for _, f := range c.features {
			have[f] = true
		}
		if featOK(c, feats) {
			next = append(next, c)
		}
	}
	if len(next) == 0 {
		var missing []string
		for _, f := range feats {
			if !have[f] {
				missing = append(missing, f)
			}
		}
		if len(missing) > 0 {
			return never("no node has features %v", missing)
		}
		return never("no node has features %v together", feats)
	}
	cur = next

	most := 0
	next = cur[:0:0]
	for _, c := range cur {
		most = max(most, c.cores)
		if coresOK(c, &k) {
			next = append(next, c)
		}
	}
	if len(next) == 0 {
		return never("needs %d cores; the largest matching node has %d", k.cores, most)
	}
	cur = next

	var mostMem int64
	next = cur[:0:0]
	for _, c := range cur {
		mostMem = max(mostMem, c.memory)
		if memoryOK(c, &k) {
			next = append(next, c)
		}
	}
	if len(next) == 0 {
		return never("needs %s memory; the largest matching node has %s", fmtBytes(k.memory), fmtBytes(mostMem))
	}
	return nil
}

// list renders a set of names sorted and deduplicated, for error messages.
func list(ss []string) string {
	ss = slices.Clone(ss)
	slices.Sort(ss)
	ss = slices.Compact(ss)
	if len(ss) == 0 {
		return "none"
	}
	for i, s := range ss {
		if s == "" {
			ss[i] = `""`
		}
	}
	return strings.Join(ss, ", ")
}
