package ctld

import (
	"fmt"
	"slices"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/store"
)

// Balance is every node's energy over [from, to): its metered total against
// the ledger's entries, the unbilled stretches by reason and standby
// (accounting.BuildBalance). Boots still on a node count as live energy.
// A zero from is the first reading; a zero to is now.
func (c *Controller) Balance(from, to time.Time) (api.Balance, error) {
	now := c.clk.Now()
	if to.IsZero() {
		to = now
	}
	if !to.After(from) {
		return api.Balance{}, fmt.Errorf("%w: the end %s is not after the start %s", ErrInvalid, to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	parts, err := c.balanceParts(from, to)
	if err != nil {
		return api.Balance{}, err
	}
	out := api.Balance{From: from, To: to, Nodes: []api.NodeBalance{}, Total: api.NodeBalance{Node: "total", UnbilledByReason: map[string]float64{}}}
	for _, name := range c.names {
		p := parts[name]
		b := accounting.BuildBalance(name, from, to, p.entries, p.stretches, p.points)
		nb := api.NodeBalance{Node: name, From: from, To: to, Meter: b.Meter, MeteredJoules: b.Metered, BilledJoules: b.Billed,
			UnbilledJoules: b.UnbilledTotal(), UnbilledByReason: b.Unbilled, StandbyJoules: b.Standby,
			LiveJoules: p.live, ResidualJoules: b.Residual - p.live, Estimated: b.Estimated}
		if nb.Meter == "" {
			nb.Meter = p.meter
		}
		if from.IsZero() {
			nb.From = p.first // the period starts at the first reading
		}
		out.Nodes = append(out.Nodes, nb)
		t := &out.Total
		t.MeteredJoules += nb.MeteredJoules
		t.BilledJoules += nb.BilledJoules
		t.UnbilledJoules += nb.UnbilledJoules
		t.StandbyJoules += nb.StandbyJoules
		t.LiveJoules += nb.LiveJoules
		t.ResidualJoules += nb.ResidualJoules
		t.Estimated = t.Estimated || nb.Estimated
		for r, j := range nb.UnbilledByReason {
			t.UnbilledByReason[r] += j
		}
	}
	out.Total.From, out.Total.To = from, to
	return out, nil
}

// nodeParts is what one node's balance is built from.
type nodeParts struct {
	entries   []accounting.Entry
	stretches []accounting.Stretch
	points    []accounting.MeterPoint
	meter     string
	first     time.Time // the first metered reading
	live      float64   // energy so far of a boot not yet billed
}

// balanceParts gathers each node's ledger entries, unbilled stretches and
// meter points, stored and still in memory.
func (c *Controller) balanceParts(from, to time.Time) (map[string]*nodeParts, error) {
	parts := map[string]*nodeParts{}
	for _, n := range c.names {
		parts[n] = &nodeParts{}
	}
	// Live boots' facts under the lock, before the read transaction (as Acct).
	type liveBoot struct {
		node string
		j    accounting.Facts
		boot func(tx *store.Tx) (accounting.Bill, error)
	}
	var live []liveBoot
	c.mu.RLock()
	for _, j := range c.jobs {
		if powered(j.State) {
			j, facts := j, c.factsLocked(j, j.State)
			live = append(live, liveBoot{node: j.Node, j: facts, boot: func(tx *store.Tx) (accounting.Bill, error) {
				end := c.clk.Now()
				if to.Before(end) {
					end = to
				}
				b, _, err := c.computeBill(tx, j, facts, end)
				return b, err
			}})
		}
	}
	c.mu.RUnlock()
	err := c.st.View(func(tx *store.Tx) error {
		if err := tx.ForEachLedgerEntry(func(e *store.LedgerEntry) error {
			if p := parts[e.Node]; p != nil && e.End.After(from) && e.Start.Before(to) {
				p.entries = append(p.entries, entryFromStore(e))
			}
			return nil
		}); err != nil {
			return err
		}
		if err := tx.ForEachUnbilled(func(u *store.Unbilled) error {
			if p := parts[u.Node]; p != nil && !u.End.Before(from) && u.Start.Before(to) {
				p.stretches = append(p.stretches, stretchOf(u))
			}
			return nil
		}); err != nil {
			return err
		}
		for name, p := range parts {
			pts, err := tx.MeterPoints(name)
			if err != nil {
				return err
			}
			for _, mp := range pts {
				p.points = append(p.points, accounting.MeterPoint{Time: mp.Time, Joules: mp.Joules})
				p.meter = mp.Meter
			}
			if len(pts) > 0 {
				p.first = pts[0].Last.Time
			}
		}
		for _, lb := range live {
			b, err := lb.boot(tx)
			if err != nil {
				return err
			}
			for _, e := range b.Entries {
				if p := parts[lb.node]; p != nil && !e.SelfReported {
					p.live += e.Joules * accounting.Overlap(e.Start, e.End, from, to)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// What is in memory and not yet flushed: the total up to the last
	// reading, and the open and changed stretches (which replace their
	// stored versions).
	c.en.mu.Lock()
	for name, m := range c.en.meters {
		p := parts[name]
		if p == nil || !m.have {
			continue
		}
		// Edges not stored yet, and the total now, in time order.
		for _, e := range m.edges {
			p.points = append(p.points, accounting.MeterPoint{Time: e.Time, Joules: e.Joules})
		}
		p.points = append(p.points, accounting.MeterPoint{Time: m.last.Time, Joules: m.total})
		slices.SortStableFunc(p.points, func(a, b accounting.MeterPoint) int { return a.Time.Compare(b.Time) })
		p.points = slices.CompactFunc(p.points, func(a, b accounting.MeterPoint) bool { return a.Time.Equal(b.Time) })
		if p.meter == "" {
			p.meter = m.meter
		}
		pending := append([]*store.Unbilled{}, m.dirty...)
		if m.cur != nil {
			pending = append(pending, m.cur)
		}
		for _, u := range pending {
			s := stretchOf(u)
			replaced := false
			for i := range p.stretches {
				if p.stretches[i].Start.Equal(s.Start) {
					p.stretches[i], replaced = s, true
				}
			}
			if !replaced && !u.End.Before(from) && u.Start.Before(to) {
				p.stretches = append(p.stretches, s)
			}
		}
	}
	c.en.mu.Unlock()
	return parts, nil
}

func stretchOf(u *store.Unbilled) accounting.Stretch {
	return accounting.Stretch{Node: u.Node, Start: u.Start, End: u.End, Reason: u.Reason, Joules: u.Joules,
		Meter: u.Meter, Samples: u.Samples, Estimated: u.Estimated, Note: u.Note}
}
