package ctld

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/store"
)

// SecurityEvent records ev on the job whose boot it hit and, when the
// request came from another node's address, on the job that node holds:
// an admin reads who did what in bmcq show. The boot itself is handled by
// the life cycle (machine.ErrBootAborted).
func (c *Controller) SecurityEvent(ev machine.SecurityEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log.Warn("security event", "kind", string(ev.Kind), "job", ev.Job, "boot", ev.Boot, "node", ev.Node,
		"remote", ev.Remote, "route", ev.Route)
	notes := map[uint64]job.Event{}
	if j := c.jobs[ev.Job]; j != nil && j.Boot == ev.Boot {
		notes[ev.Job] = job.Event{State: j.State, Node: ev.Node, Reason: job.ReasonSecurity,
			Detail: fmt.Sprintf("%s on this job's boot %d from %s%s", ev.Kind, ev.Boot, ev.Remote, c.whoLocked(ev.Remote))}
	}
	for _, n := range c.nodes {
		if n.Address.IsValid() && n.Address == ev.Remote && n.Job != 0 && n.Job != ev.Job {
			if j := c.jobs[n.Job]; j != nil {
				notes[n.Job] = job.Event{State: j.State, Node: n.Name, Reason: job.ReasonSecurity,
					Detail: fmt.Sprintf("%s: this job's node %s touched job %d's boot on %s (%s)", ev.Kind, n.Name, ev.Job, ev.Node, ev.Route)}
			}
		}
	}
	rec := securityRecord{at: c.clk.Now(), jobs: notes}
	if _, ok := c.nodes[ev.Node]; ok {
		rec.node = ev.Node
		rec.nev = node.Event{Action: "security_event", Job: ev.Job,
			Detail: fmt.Sprintf("%s on boot %d from %s%s (%s)", ev.Kind, ev.Boot, ev.Remote, c.whoLocked(ev.Remote), ev.Route)}
	}
	c.secPending = append(c.secPending, rec)
	c.storeSecurityLocked()
}

// securityRecord is what one security event writes: a node event and job
// events, all stamped with when it happened.
type securityRecord struct {
	at   time.Time
	node string // "" when the node is not configured
	nev  node.Event
	jobs map[uint64]job.Event
}

// storeSecurityLocked writes the security records not yet stored. A record
// the store refused stays pending, and the reconciler's next pass tries
// again: an admin reads who did what in bmcq show, so none may be lost to a
// failed commit. Called with c.mu held.
func (c *Controller) storeSecurityLocked() {
	if len(c.secPending) == 0 {
		return
	}
	err := c.st.Update(func(tx *store.Tx) error {
		for _, r := range c.secPending {
			if r.node != "" {
				nev := r.nev
				nev.Time = r.at
				if err := tx.AddNodeEvent(r.node, nev); err != nil {
					return err
				}
			}
			for id, e := range r.jobs {
				e.Time = r.at
				if err := tx.AddEvent(id, e); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		c.log.Warn("security events not stored yet; the reconciler retries", "pending", len(c.secPending), "err", err)
		return
	}
	c.secPending = nil
}

// whoLocked names the node (and its job) behind an address, for the event.
func (c *Controller) whoLocked(a netip.Addr) string {
	for _, n := range c.nodes {
		if n.Address.IsValid() && n.Address == a {
			if n.Job != 0 {
				return fmt.Sprintf(" (node %s, job %d)", n.Name, n.Job)
			}
			return fmt.Sprintf(" (node %s)", n.Name)
		}
	}
	return " (no known node)"
}

// bootAborted puts a job whose boot was aborted back in the queue where it
// was: no boot attempt and no restart counted. Its node is off and free.
func (c *Controller) bootAborted(id uint64, detail string) error {
	_, err := c.transition(step{id: id, to: job.Pending, cause: job.CauseLifecycle, node: freeNode,
		ev: job.Event{Reason: job.ReasonBootAborted, Detail: detail},
		edit: func(j *job.Job) {
			resetForQueue(j)
			j.Reason, j.Detail = job.ReasonBootAborted, detail
		}})
	return err
}
