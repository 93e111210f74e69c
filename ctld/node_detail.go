package ctld

import (
	"fmt"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/store"
)

// NodeDetail returns one machine with its history: what the controller
// observed of it and did to it, oldest first.
func (c *Controller) NodeDetail(name string) (api.NodeDetail, error) {
	var info *api.NodeInfo
	for _, n := range c.Nodes() {
		if n.Name == name {
			info = &n
			break
		}
	}
	if info == nil {
		return api.NodeDetail{}, fmt.Errorf("node %s: %w", name, ErrNotFound)
	}
	var evs []node.Event
	if err := c.st.View(func(tx *store.Tx) error {
		var err error
		evs, err = tx.NodeEvents(name)
		return err
	}); err != nil {
		return api.NodeDetail{}, err
	}
	return api.NodeDetail{NodeInfo: *info, Events: evs}, nil
}

// nodeReasonLocked is the reason bmcq shows: the stored one, and what the
// reconciler is doing about the node.
func (c *Controller) nodeReasonLocked(rt *nodeRT) string {
	r := rt.Reason
	switch {
	case rt.Job != 0:
	case rt.State == node.IdleOn && rt.WarmUntil.IsZero():
		r = joinDetail(r, "kept on for the next job (--idle-off never)")
	case rt.State == node.IdleOn:
		r = joinDetail(r, fmt.Sprintf("kept on for the next job; off at %s, or once no waiting job fits it",
			rt.WarmUntil.Format(time.TimeOnly)))
	case rt.Fault != "" && !rt.rec.next.IsZero():
		r = joinDetail(r, fmt.Sprintf("retry %d at %s", rt.rec.tries+1, rt.rec.next.Format(time.TimeOnly)))
	case rt.rec.held && !rt.rec.onSince.IsZero():
		r = joinDetail(r, fmt.Sprintf("on with no job since %s; switching off at %s",
			rt.rec.onSince.Format(time.TimeOnly), rt.rec.onSince.Add(c.cfg.Reconcile.IdleOffGrace).Format(time.TimeOnly)))
	}
	return r
}
