package scheduler

import (
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// Reuse of a warm machine: a node kept on (IDLE-ON) after a job whose
// system still runs (node.Warm) may take the same user's next job without
// firmware. warmFirst already puts a warm machine of the job's user first
// within the class place chose; reuseFirst prefers, among those, one the
// job can take by reset or kexec, and the assignment says how
// (Assignment.Reuse). Any other job on a warm machine gets a power cycle.

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
	s := j.Spec
	if s.Kernel == w.Kernel && s.Initrd == w.Initrd && s.Cmdline == w.Cmdline && s.Image == w.Image {
		return ReuseReset
	}
	if n.Kexec {
		return ReuseKexec
	}
	return ""
}

// reuseFirst moves to the front of c's free list a node j may take
// without a power cycle, if the front one is not such a node already.
func (p *pass) reuseFirst(c *class, j *job.Job) {
	if c.warm == 0 {
		return
	}
	free := c.free[c.next:]
	if ReuseOf(p.s.Nodes[free[0]], j) != "" {
		return
	}
	for i := 1; i < len(free); i++ {
		if ReuseOf(p.s.Nodes[free[i]], j) != "" {
			free[0], free[i] = free[i], free[0]
			return
		}
	}
}
