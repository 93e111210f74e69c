package ctld

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine/simnode"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/store"
)

// storeDump is everything the transition function may write, as bytes.
type storeDump struct {
	job, node    string
	events       int
	nodeEvents   int
	memJob       *job.Job
	memNode      *node.Node
	done, stalls int
}

func dump(t *testing.T, c *Controller, st *store.Store, id uint64, name string) storeDump {
	t.Helper()
	var d storeDump
	err := st.View(func(tx *store.Tx) error {
		j, err := tx.Job(id)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(j)
		d.job = string(b)
		evs, err := tx.Events(id)
		d.events = len(evs)
		if err != nil {
			return err
		}
		nevs, err := tx.NodeEvents(name)
		d.nodeEvents = len(nevs)
		if err != nil {
			return err
		}
		return tx.ForEachNode(func(n *node.Node) error {
			if n.Name == name {
				b, _ := json.Marshal(n)
				d.node = string(b)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.RLock()
	d.memJob, d.memNode, d.done, d.stalls = c.jobs[id], c.nodes[name].Node, len(c.done), len(c.stalls)
	c.mu.RUnlock()
	return d
}

// TestTransitionEveryPair drives the controller's one transition function
// with every (from, to, cause) of job.AllStates × job.AllStates ×
// job.AllCauses: what the table allows commits the job, its node and the
// event together; everything else is a *job.TransitionError and leaves the
// store and the controller's memory exactly as they were.
func TestTransitionEveryPair(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "state.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clock.NewFake(t0)
	ms, err := simnode.Cluster(1, "", clk, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.StateDir = dir
	c, err := New(cfg, st, ms, clk, testLogger(), Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	const name = "sim001"
	allowed, refused := 0, 0
	for _, from := range job.AllStates {
		for _, to := range job.AllStates {
			for _, by := range job.AllCauses {
				id := seedJob(t, c, st, from, name)
				before := dump(t, c, st, id, name)
				s := step{id: id, to: to, cause: by, ev: job.Event{Detail: "table test"}}
				switch {
				case to == job.Allocated && !from.Active():
					s.edit = func(j *job.Job) { j.Node = name }
					s.node = nodeEffect{op: nodeAllocate}
				case from.Active() && !to.Active():
					s.node = freeNode
				}
				c.mu.Lock()
				got, err := c.transitionLocked(s)
				c.mu.Unlock()
				after := dump(t, c, st, id, name)
				what := fmt.Sprintf("%s → %s by %s", from, to, by)
				if !job.Allowed(from, to, by) {
					refused++
					var te *job.TransitionError
					if !errors.As(err, &te) || !errors.Is(err, job.ErrTransition) || te.Job != id || te.From != from || te.To != to {
						t.Errorf("%s: err = %v, want a *job.TransitionError naming job %d and the change", what, err, id)
					}
					if before != after {
						t.Errorf("%s: a refused change altered something:\nbefore %+v\nafter  %+v", what, before, after)
					}
					continue
				}
				allowed++
				if err != nil {
					t.Errorf("%s: %v", what, err)
					continue
				}
				var stored *job.Job
				var evs []job.Event
				st.View(func(tx *store.Tx) error {
					stored, _ = tx.Job(id)
					evs, _ = tx.Events(id)
					return nil
				})
				if got.State != to || stored.State != to || after.memJob != got {
					t.Errorf("%s: returned %s, stored %s, in memory %s", what, got.State, stored.State, after.memJob.State)
				}
				if len(evs) != before.events+1 || evs[len(evs)-1].State != to || evs[len(evs)-1].Cause != by {
					t.Errorf("%s: events %+v, want one more saying %s by %s", what, evs, to, by)
				}
				n := after.memNode
				switch {
				case to.Active() && (n.State != node.Allocated || n.Job != id):
					t.Errorf("%s: node is %s holding %d", what, n.State, n.Job)
				case !to.Active() && from.Active() && (n.State != node.Idle || n.Job != 0):
					t.Errorf("%s: node is %s holding %d, want it free", what, n.State, n.Job)
				}
				if to.Final() && after.done != before.done+1 {
					t.Errorf("%s: the job is not counted as ended", what)
				}
			}
		}
	}
	if allowed == 0 || refused == 0 {
		t.Fatalf("%d allowed, %d refused: the test tried nothing", allowed, refused)
	}
	t.Logf("%d allowed and %d refused transitions checked", allowed, refused)
}

// seedJob writes a job in state from; a job on a node holds name.
func seedJob(t *testing.T, c *Controller, st *store.Store, from job.State, name string) uint64 {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	j := &job.Job{ArrayTaskID: -1, User: "alice", UID: 1000, State: from, SubmitTime: t0,
		Spec: simSpec(time.Second, 0)}
	n := *c.nodes[name].Node
	n.State, n.Job = node.Idle, 0
	if from.Active() {
		j.Node, j.StartTime, j.Boot = name, t0, 1
		n.State = node.Allocated
	}
	if from.Final() {
		j.EndTime = t0
	}
	err := st.Update(func(tx *store.Tx) error {
		if err := tx.NewJob(j, job.Event{Time: t0, State: from}); err != nil {
			return err
		}
		if from.Active() {
			n.Job = j.ID
		}
		return tx.PutNode(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	c.publishLocked(nil, j)
	c.nodes[name].Node = &n
	return j.ID
}
