package ctld

import (
	"fmt"
)

// actChunk is how many jobs one turn of a bulk action changes under the
// global lock, in one store transaction. Cancelling a 100,000-task array
// in one turn held the lock for a minute and every other bmcq waited
// behind it; a turn of this size holds it a few milliseconds (bench
// BenchmarkBulkCancel), and readers get in between turns.
const actChunk = 256

// Act cancels, holds, releases or requeues jobs. Only the owner, root or an
// admin may; nothing changes unless the caller may act on every job named.
// Many jobs (an array) are changed a chunk at a time, the lock let go
// between chunks, so one user's bulk action never stalls everyone else.
func (c *Controller) Act(who Identity, expr, action string) ([]uint64, error) {
	c.mu.RLock()
	ids, err := c.resolveLocked(expr)
	c.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	// An array's tasks keep their owner and account, so checking them a
	// chunk at a time checks the same thing as all at once.
	for lo := 0; lo < len(ids); lo += actChunk {
		c.mu.RLock()
		err := c.mayActLocked(who, ids[lo:min(lo+actChunk, len(ids))], action)
		c.mu.RUnlock()
		if err != nil {
			return nil, err
		}
	}
	var done []uint64
	var first error
	for lo := 0; lo < len(ids); lo += actChunk {
		c.mu.Lock()
		d, errs, err := c.actChunkLocked(who, ids[lo:min(lo+actChunk, len(ids))], action)
		c.mu.Unlock()
		done = append(done, d...)
		// Wake the scheduler for what the chunk freed: nodes of stopped
		// jobs, released jobs.
		c.Wake()
		if err != nil {
			// The store refused a commit: what is done stays done, and
			// the caller hears why the rest is not.
			return done, fmt.Errorf("store: %w (%d of %d jobs changed)", err, len(done), len(ids))
		}
		if first == nil && len(errs) > 0 {
			first = errs[0]
		}
	}
	if len(done) == 0 && first != nil {
		return nil, first
	}
	return done, nil
}

func (c *Controller) mayActLocked(who Identity, ids []uint64, action string) error {
	for _, id := range ids {
		j, ok := c.jobs[id]
		if !ok {
			continue // evicted meanwhile: planLocked says so
		}
		if j.UID != who.UID && !c.actsAsAdmin(who, j, action) {
			return fmt.Errorf("%w: job %s belongs to %s; only its owner, an admin or a coordinator of its account may %s it", ErrForbidden, displayID(j), j.User, action)
		}
	}
	return nil
}

// actChunkLocked applies action to ids: stops start at once, state changes
// commit together in one transaction. It returns the jobs changed, the
// refusals, and the store's error if the commit failed (nothing of the
// chunk's state changes is then applied).
func (c *Controller) actChunkLocked(who Identity, ids []uint64, action string) ([]uint64, []error, error) {
	var errs []error
	var steps []*staged
	changed := make([]bool, len(ids))
	b := newBatch()
	for i, id := range ids {
		s, err := c.planLocked(who, id, action)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if s == nil {
			changed[i] = true
			continue
		}
		st, err := c.stageLocked(*s, b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		steps = append(steps, st)
		changed[i] = true
	}
	_, err := c.commitLocked(steps)
	var done []uint64
	for i, id := range ids {
		if changed[i] && (err == nil || c.jobs[id].State.Active()) {
			done = append(done, id)
		}
	}
	return done, errs, err
}
