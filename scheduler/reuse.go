package scheduler

import (
	"fmt"
	"slices"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// Reuse of a warm machine: a node kept on (IDLE-ON) after a job, with what
// it still runs (node.Warm). Warm nodes are not in the free lists, so no job
// is ever placed on one by best fit: only the same user's job takes it,
// without firmware, and a warm node no such job took in a pass goes into
// Plan.Cool for the controller to switch off. A job that waits for a node
// closes the warm nodes it could use, so a warm machine never jumps the
// queue ahead of a higher-priority job of someone else.

// ReuseKind is how a warm machine is handed to the next job.
type ReuseKind string

const (
	// ReuseReset: same kernel, initrd, command line and image; the agent
	// kills the old job and unpacks a fresh root.
	ReuseReset ReuseKind = "reset"
	// ReuseKexec: another kernel, initrd or command line; the node's
	// kernel loads the next one with kexec (nodes file kexec = true).
	ReuseKexec ReuseKind = "kexec"
)

// ReuseOf says how j may take the warm node n without a power cycle, or ""
// when it may not: another user, a job that asked for reuse = false, or
// another kernel on a node without kexec.
func ReuseOf(n *node.Node, j *job.Job) ReuseKind {
	w := n.Warm
	if n.State != node.IdleOn || w == nil || n.Drain || j.Spec.NoReuse || j.UID != w.UID {
		return ""
	}
	s := &j.Spec
	if s.Kernel == w.Kernel && s.Initrd == w.Initrd && s.Cmdline == w.Cmdline && s.Image == w.Image {
		return ReuseReset
	}
	if n.Kexec {
		return ReuseKexec
	}
	return ""
}

// warmNode is one warm node of the snapshot.
type warmNode struct {
	ni     int32 // index into Snapshot.Nodes
	class  int32
	closed bool // taken, or a waiting job of higher priority could use it
}

// findWarm lists the snapshot's warm nodes with their classes.
func (p *pass) findWarm() {
	for ci := range p.classes {
		for _, ni := range p.classes[ci].nodes {
			if n := p.s.Nodes[ni]; n.State == node.IdleOn && n.Warm != nil {
				// A drained one is listed only to be cooled.
				p.warm = append(p.warm, warmNode{ni: ni, class: int32(ci), closed: n.Drain})
			}
		}
	}
}

// reuse places j on a warm node it may take, if any.
func (p *pass) reuse(j *job.Job, si *sigInfo) bool {
	for i := range p.warm {
		w := &p.warm[i]
		if w.closed || !si.uses(w.class) || !p.allowed(w.class) {
			continue
		}
		nd := p.s.Nodes[w.ni]
		kind := ReuseOf(nd, j)
		if kind == "" {
			continue
		}
		w.closed = true
		p.placedEnd[w.ni] = p.now.Add(timeLimit(&j.Spec, p.cfg))
		p.plan.Assignments = append(p.plan.Assignments, Assignment{
			JobID: j.ID, Node: nd.Name, Reuse: kind, Backfilled: p.res != nil,
			Why: fmt.Sprintf("reuse (%s): node %s is still on after job %d of the same user", kind, nd.Name, nd.Warm.Job),
		})
		p.idx.started(j)
		return true
	}
	return false
}

func (si *sigInfo) uses(class int32) bool { return slices.Contains(si.classes, class) }

// closeWarm keeps the warm nodes a waiting job could use from lower-priority jobs.
func (p *pass) closeWarm(si *sigInfo) {
	for i := range p.warm {
		if si.uses(p.warm[i].class) {
			p.warm[i].closed = true
		}
	}
}

// cool lists the warm nodes no job took this pass.
func (p *pass) cool() {
	taken := map[string]bool{}
	for _, a := range p.plan.Assignments {
		taken[a.Node] = true
	}
	for _, w := range p.warm {
		if n := p.s.Nodes[w.ni]; !taken[n.Name] {
			p.plan.Cool = append(p.plan.Cool, n.Name)
		}
	}
}
