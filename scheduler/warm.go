package scheduler

import (
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// warmFirst picks, within the class place chose, the node j should take,
// by moving it to the front of the class's free list. A warm (IDLE-ON)
// machine that last ran j's user's job comes first: it may run j without
// a power cycle. Any other warm machine comes last: j's boot costs a power
// cycle there all the same (another user never inherits a machine's RAM),
// and the machine may still serve its own user. Nodes of a class are
// otherwise the same, so best fit does not change.
func (p *pass) warmFirst(c *class, j *job.Job) {
	if c.warm == 0 {
		return
	}
	free := c.free[c.next:]
	pick := -1
	for i, ni := range free {
		n := p.s.Nodes[ni]
		if n.State == node.IdleOn && n.WarmUser == j.User {
			pick = i
			break
		}
		if pick < 0 && n.State != node.IdleOn {
			pick = i
		}
	}
	if pick > 0 {
		// Keep the others in name order: shift rather than swap.
		ni := free[pick]
		copy(free[1:pick+1], free[:pick])
		free[0] = ni
	}
	if p.s.Nodes[free[0]].State == node.IdleOn {
		c.warm--
	}
}
