package scheduler

// The job that waits first for resources: what it blocks behind it and,
// with EASY backfill, its reservation.

import (
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// reservation is EASY backfill's promise to the top waiting job.
type reservation struct {
	job uint64
	at  time.Time
	inF []bool // per class: could the reserved job use it
}

// block records that j fits the cluster but finds no free node now. The
// first such job gets Resources (and, with backfill, a reservation); the
// rest get Priority, as in Slurm.
func (p *pass) block(id uint64, si *sigInfo) job.Reason {
	if p.blocker == 0 {
		p.blocker = id
		if p.cfg.Backfill {
			p.reserve(id, si)
		}
	}
	if !p.cfg.Backfill && !si.claimed {
		// Strict priority: whatever this job could use stays held for it.
		if p.claimed == nil {
			p.claimed = make([]bool, len(p.classes))
		}
		for _, ci := range si.classes {
			p.claimed[ci] = true
		}
		si.claimed = true
	}
	if p.blocker == id {
		return job.ReasonResources
	}
	return job.ReasonPriority
}

// reserve finds the earliest time one of j's nodes is free, from the
// expected ends of the jobs holding them; powering off counts as instant.
func (p *pass) reserve(id uint64, si *sigInfo) {
	var at time.Time
	var activeEnd map[uint64]time.Time
	for _, ci := range si.classes {
		for _, ni := range p.classes[ci].nodes {
			e := p.placedEnd[ni]
			if e.IsZero() {
				nd := p.s.Nodes[ni]
				if nd.State != node.Allocated || nd.Drain {
					continue
				}
				if activeEnd == nil {
					activeEnd = p.activeEnds()
				}
				var ok bool
				if e, ok = activeEnd[nd.Job]; !ok {
					// A node held by a job the snapshot does not show: assume
					// it runs a default limit from when the node changed state.
					e = nd.Since.Add(p.cfg.DefaultTimeLimit)
				}
				e = maxTime(e, p.now) // overdue: it may end any moment
			}
			if at.IsZero() || e.Before(at) {
				at = e
			}
		}
	}
	if at.IsZero() {
		return // cannot happen: consider checked that a node will take jobs
	}
	r := &reservation{job: id, at: at, inF: make([]bool, len(p.classes))}
	for _, ci := range si.classes {
		r.inF[ci] = true
	}
	p.res = r
	p.plan.Reservation[id] = at
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// activeEnds maps each active job to when it should end.
func (p *pass) activeEnds() map[uint64]time.Time {
	m := make(map[uint64]time.Time)
	for _, a := range p.s.Jobs {
		if !a.State.Active() {
			continue
		}
		if e, ok := p.s.ExpectedEnd[a.ID]; ok {
			m[a.ID] = e
			continue
		}
		start := a.StartTime
		if start.IsZero() {
			start = p.now
		}
		m[a.ID] = start.Add(timeLimit(&a.Spec, p.cfg))
	}
	return m
}
