package ctld

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/scheduler"
	"github.com/bmc-sched/bmc/store"
)

// Identity is who called, as the kernel vouches for it (SO_PEERCRED).
type Identity struct {
	UID, GID uint32
	User     string
	Admin    bool
}

// Submit validates and queues a job (one record per array task). The answer
// is sent only after the records are on disk.
func (c *Controller) Submit(ctx context.Context, who Identity, req api.SubmitRequest) (api.SubmitResponse, error) {
	spec := req.Spec
	if err := spec.Validate(); err != nil {
		return api.SubmitResponse{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if spec.Schedule != "" {
		if spec.Array != nil {
			return api.SubmitResponse{}, fmt.Errorf("%w: schedule: a recurring job cannot be an array", ErrInvalid)
		}
		// Like scrontab: the first run is at the schedule's next time.
		begin, err := nextRun(spec.Schedule, c.clk.Now())
		if err != nil {
			return api.SubmitResponse{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if begin.After(spec.Begin) {
			spec.Begin = begin
		}
	}
	c.mu.RLock()
	nodes := make([]*node.Node, 0, len(c.names))
	for _, name := range c.names {
		nodes = append(nodes, c.nodes[name].Node)
	}
	var missing []string
	for _, d := range spec.DependsOn {
		if d.Type == job.Singleton {
			continue
		}
		if _, ok := c.jobs[d.JobID]; !ok {
			if _, ok := c.done[d.JobID]; !ok {
				missing = append(missing, strconv.FormatUint(d.JobID, 10))
			}
		}
	}
	c.mu.RUnlock()
	if len(missing) > 0 {
		return api.SubmitResponse{}, fmt.Errorf("%w: depends_on: no job %s", ErrInvalid, strings.Join(missing, ", "))
	}
	if err := c.checkSubmitter(who, &spec, req.Cwd); err != nil {
		return api.SubmitResponse{}, err
	}
	warnings, err := c.checkAccount(who, &spec)
	if err != nil {
		return api.SubmitResponse{}, err
	}
	nodes, err = c.checkImage(ctx, who, &spec, req.Cwd, nodes)
	if err != nil {
		return api.SubmitResponse{}, err
	}
	if len(nodes) == 0 {
		return api.SubmitResponse{}, fmt.Errorf("%w: image %s offers no architecture this cluster has", ErrInvalid, spec.Image)
	}
	if err := scheduler.Feasible(&spec, nodes, c.cfg.Scheduler); err != nil {
		return api.SubmitResponse{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if spec.Partition == "" {
		spec.Partition = c.cfg.Scheduler.DefaultPartition
	}
	now := c.clk.Now()
	state, reason := job.Pending, job.ReasonNone
	if spec.Hold {
		state, reason = job.Held, job.ReasonHeld
	}
	tasks := []int{-1}
	if spec.Array != nil {
		tasks = spec.Array.Tasks
	}
	release, err := c.checkLimits(who, &spec, len(tasks))
	if err != nil {
		return api.SubmitResponse{}, err
	}
	if spec.Array != nil {
		// Each task's record keeps the array's text and limit but not the
		// task list: a copy of 10,000 ids in each of 10,000 records made
		// the state file and the daemon's heap grow with the square of the
		// array size (520 MB on disk, 1.5 GB resident for one array).
		spec.Array = &job.ArraySpec{Text: spec.Array.Text, MaxParallel: spec.Array.MaxParallel}
	}
	// Every task shares the one spec (job.Job.Spec): 10,000 copies of it
	// were 40 % of the daemon's heap with an array pending.
	var jobs []*job.Job
	err = c.st.Batch(func(tx *store.Tx) error {
		jobs = jobs[:0]
		var arrayID uint64
		for _, task := range tasks {
			j := &job.Job{
				ArrayTaskID: task, User: who.User, UID: who.UID, GID: who.GID, Cwd: req.Cwd,
				Spec: &spec, State: state, Reason: reason, SubmitTime: now,
			}
			ev := job.Event{Time: now, State: state, Reason: reason, Detail: "submitted by " + who.User}
			if task >= 0 && arrayID != 0 {
				j.ArrayJobID = arrayID
			}
			if err := tx.NewJob(j, ev); err != nil {
				return err
			}
			if task >= 0 && arrayID == 0 {
				arrayID, j.ArrayJobID = j.ID, j.ID
				if err := tx.PutJob(j); err != nil {
					return err
				}
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		c.mu.Lock()
		release()
		c.mu.Unlock()
		return api.SubmitResponse{}, fmt.Errorf("store: %w", err)
	}
	resp := api.SubmitResponse{IDs: make([]uint64, len(jobs)), Warnings: warnings}
	c.mu.Lock()
	release() // the records count from here on
	for i, j := range jobs {
		resp.IDs[i] = j.ID
		c.publishLocked(nil, j)
		if j.IsArrayTask() {
			c.byArray[j.ArrayJobID] = append(c.byArray[j.ArrayJobID], j.ID)
			resp.ArrayJobID = j.ArrayJobID
		}
		if c.hooks.JobState != nil {
			c.hooks.JobState("", j.State)
		}
	}
	c.mu.Unlock()
	c.log.Info("job submitted", "job", resp.IDs[0], "tasks", len(jobs), "user", who.User, "name", spec.Name, "file", req.File)
	c.Wake()
	if len(jobs) >= bigSubmit && c.freeing.CompareAndSwap(false, true) {
		// A big array's request, records and commit are garbage now, but
		// the GC sized its next goal from them: after 10,000 tasks the heap
		// was let grow to ~50 MB around ~11 MB of live jobs, and bmcctld sat
		// at 60–78 MB resident until a later cycle and the scavenger caught
		// up (bench/core). One collection now, off the request path, puts
		// the goal back near twice the live heap and returns the rest.
		go func() {
			defer c.freeing.Store(false)
			debug.FreeOSMemory()
		}()
	}
	return resp, nil
}

// bigSubmit is the task count from which a submit returns its transient
// memory to the system at once.
const bigSubmit = 1000

// resolveLocked turns "12", "12_3" or an array id into job ids.
func (c *Controller) resolveLocked(expr string) ([]uint64, error) {
	base, task, isTask := strings.Cut(expr, "_")
	id, err := strconv.ParseUint(base, 10, 64)
	if err != nil || id == 0 {
		return nil, fmt.Errorf("%w: %q is not a job id", ErrInvalid, expr)
	}
	if isTask {
		t, err := strconv.Atoi(task)
		if err != nil {
			return nil, fmt.Errorf("%w: %q is not a job id", ErrInvalid, expr)
		}
		for _, tid := range c.byArray[id] {
			if c.jobs[tid].ArrayTaskID == t {
				return []uint64{tid}, nil
			}
		}
		return nil, fmt.Errorf("job %s: %w", expr, ErrNotFound)
	}
	if ids := c.byArray[id]; len(ids) > 0 {
		return append([]uint64(nil), ids...), nil
	}
	if _, ok := c.jobs[id]; ok {
		return []uint64{id}, nil
	}
	return nil, fmt.Errorf("job %s: %w", expr, ErrNotFound)
}

// planLocked works out what action does to job id: a step to commit, or,
// for a job on a node, the stop it starts at once (nil step).
func (c *Controller) planLocked(who Identity, id uint64, action string) (*step, error) {
	j, ok := c.jobs[id]
	if !ok {
		return nil, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	by, cause := who.User, ownerCause(who, j)
	switch action {
	case api.ActionCancel:
		switch {
		case j.State.Waiting():
			now := c.clk.Now()
			return &step{id: id, to: job.Cancelled, cause: cause, ev: job.Event{Detail: "cancelled by " + by},
				edit: func(j *job.Job) { j.EndTime, j.Detail = now, "cancelled by "+by }}, nil
		case j.State.Active():
			return nil, c.stopLocked(j, &stopCause{outcome: job.Cancelled, by: by, cause: cause})
		}
	case api.ActionHold:
		if j.State == job.Pending {
			r := job.ReasonHeld
			if who.UID != j.UID {
				r = job.ReasonHeldAdmin
			}
			return &step{id: id, to: job.Held, cause: cause, ev: job.Event{Reason: r, Detail: "held by " + by},
				edit: func(j *job.Job) { j.Reason = r }}, nil
		}
		if j.State == job.Held {
			return nil, nil
		}
	case api.ActionRelease:
		if j.State == job.Held {
			if j.Reason == job.ReasonHeldAdmin && !c.actsAsAdmin(who, j, action) {
				return nil, fmt.Errorf("%w: job %s was held by an admin or a coordinator; only they may release it", ErrForbidden, displayID(j))
			}
			return &step{id: id, to: job.Pending, cause: cause, ev: job.Event{Detail: "released by " + by},
				edit: func(j *job.Job) { j.Reason = job.ReasonNone }}, nil
		}
	case api.ActionRequeue:
		switch {
		case j.State.Active():
			return nil, c.stopLocked(j, &stopCause{outcome: job.Pending, by: by, cause: cause})
		case j.State.Final():
			return &step{id: id, to: job.Pending, cause: cause,
				ev: job.Event{Reason: job.ReasonRequeued, Detail: "requeued by " + by},
				edit: func(j *job.Job) {
					resetForQueue(j)
					j.Restarts++
					j.Reason = job.ReasonRequeued
				}}, nil
		}
	default:
		return nil, fmt.Errorf("%w: unknown action %q", ErrInvalid, action)
	}
	return nil, fmt.Errorf("%w: cannot %s job %s: it is %s", ErrConflict, action, displayID(j), j.State)
}

// stopLocked interrupts an active job's life cycle; it powers the node off
// and ends or requeues the job on its own goroutine.
func (c *Controller) stopLocked(j *job.Job, cause *stopCause) error {
	if j.State == job.PoweringOff {
		return fmt.Errorf("%w: job %s is already ending", ErrConflict, displayID(j))
	}
	lc, ok := c.running[j.ID]
	switch {
	case !ok:
		return fmt.Errorf("%w: job %s is being recovered; try again shortly", ErrConflict, displayID(j))
	case lc.stopping:
		return fmt.Errorf("%w: job %s is already being stopped", ErrConflict, displayID(j))
	}
	lc.stopping = true
	c.log.Info("stopping job", "job", j.ID, "node", j.Node, "cause", cause.cause, "outcome", cause.outcome, "reason", cause.Error())
	lc.cancel(cause)
	return nil
}

// NodeAction drains or resumes a node; admins only.
func (c *Controller) NodeAction(who Identity, name, action, reason string) error {
	if !who.Admin {
		return fmt.Errorf("%w: only root or the admin group may %s nodes", ErrForbidden, action)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rt, ok := c.nodes[name]
	if !ok {
		return fmt.Errorf("node %s: %w", name, ErrNotFound)
	}
	n := *rt.Node
	switch action {
	case api.ActionDrain:
		if strings.TrimSpace(reason) == "" {
			return fmt.Errorf("%w: drain needs --reason", ErrInvalid)
		}
		n.Drain, n.Reason = true, fmt.Sprintf("%s (%s)", reason, who.User)
	case api.ActionResume:
		if !n.Drain && n.State != node.Down {
			return fmt.Errorf("%w: node %s is %s, not drained or down", ErrConflict, name, n.DisplayState())
		}
		n.Drain, n.Reason = false, ""
		if n.State == node.Down {
			n.State = node.Idle
		}
	default:
		return fmt.Errorf("%w: unknown node action %q", ErrInvalid, action)
	}
	n.Since = c.clk.Now()
	ev := node.Event{Time: n.Since, Action: action, State: n.State, Detail: fmt.Sprintf("by %s", who.User)}
	if reason != "" {
		ev.Detail += ": " + reason
	}
	if action == api.ActionResume {
		n.Fault = ""
	}
	if err := c.st.Update(func(tx *store.Tx) error {
		if err := tx.PutNode(&n); err != nil {
			return err
		}
		return tx.AddNodeEvent(name, ev)
	}); err != nil {
		return err
	}
	rt.Node = &n
	c.log.Info("node "+action, "node", name, "by", who.User, "reason", reason)
	c.Wake()
	return nil
}

func displayID(j *job.Job) string {
	if j.IsArrayTask() {
		// Built by hand in one allocation: every queue listing calls this
		// once per task.
		var b [41]byte
		s := strconv.AppendUint(b[:0], j.ArrayJobID, 10)
		s = strconv.AppendInt(append(s, '_'), int64(j.ArrayTaskID), 10)
		return string(s)
	}
	return strconv.FormatUint(j.ID, 10)
}
