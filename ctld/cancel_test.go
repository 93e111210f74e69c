package ctld

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/power/sim"
)

// gatedPrepare holds a job in ALLOCATED: Prepare waits for release (or its
// context), as a slow image download would.
type gatedPrepare struct {
	machine.Machine
	release chan struct{}
}

func (g *gatedPrepare) Prepare(ctx context.Context, j *job.Job) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-g.release:
	}
	return g.Machine.Prepare(ctx, j)
}

func (g *gatedPrepare) Unwrap() machine.Machine { return g.Machine }

// TestCancelFromEveryState cancels a job in each state that is not final, on
// one simulated machine with a fake clock. Each ends CANCELLED with the
// machine off and the node free, and the history shows the way it took;
// a job already POWERING_OFF keeps the outcome it recorded (the cancel is
// refused) and ends with its node off and free all the same.
func TestCancelFromEveryState(t *testing.T) {
	for _, tc := range []struct {
		state job.State
		// reach brings job id to the state and returns what undoes any
		// fault it needed (nil: nothing).
		reach func(h *harness, gate *gatedPrepare) (id uint64, undo func())
		want  string // the states of the job's events
		final job.State
	}{
		{
			state: job.Pending,
			reach: func(h *harness, _ *gatedPrepare) (uint64, func()) {
				if err := h.c.NodeAction(root, "sim001", api.ActionDrain, "keep the job waiting"); err != nil {
					h.t.Fatal(err)
				}
				return h.submit(alice, simSpec(time.Second, 0))[0], nil
			},
			want: "PENDING CANCELLED", final: job.Cancelled,
		},
		{
			state: job.Held,
			reach: func(h *harness, _ *gatedPrepare) (uint64, func()) {
				s := simSpec(time.Second, 0)
				s.Hold = true
				return h.submit(alice, s)[0], nil
			},
			want: "HELD CANCELLED", final: job.Cancelled,
		},
		{
			state: job.Allocated,
			reach: func(h *harness, _ *gatedPrepare) (uint64, func()) {
				return h.submit(alice, simSpec(time.Second, 0))[0], nil
			},
			want: "PENDING ALLOCATED POWERING_OFF CANCELLED", final: job.Cancelled,
		},
		{
			state: job.PoweringOn,
			reach: func(h *harness, gate *gatedPrepare) (uint64, func()) {
				id := h.submit(alice, simSpec(time.Second, 0))[0]
				h.waitState(id, job.Allocated)
				h.sim("sim001").SetFaults(sim.Faults{Stall: true}) // the power-on hangs in the BMC
				close(gate.release)
				return id, func() { h.sim("sim001").SetFaults(sim.Faults{}) }
			},
			want: "PENDING ALLOCATED POWERING_ON POWERING_OFF CANCELLED", final: job.Cancelled,
		},
		{
			state: job.Booting,
			reach: func(h *harness, gate *gatedPrepare) (uint64, func()) {
				close(gate.release)
				return h.submit(alice, simSpec(time.Second, 0))[0], nil
			},
			want: "PENDING ALLOCATED POWERING_ON BOOTING POWERING_OFF CANCELLED", final: job.Cancelled,
		},
		{
			state: job.Running,
			reach: func(h *harness, gate *gatedPrepare) (uint64, func()) {
				close(gate.release)
				return h.submit(alice, simSpec(time.Hour, 0))[0], nil
			},
			want: "PENDING ALLOCATED POWERING_ON BOOTING RUNNING POWERING_OFF CANCELLED", final: job.Cancelled,
		},
		{
			state: job.PoweringOff,
			reach: func(h *harness, gate *gatedPrepare) (uint64, func()) {
				close(gate.release)
				id := h.submit(alice, simSpec(5*time.Second, 0))[0]
				h.waitState(id, job.Running)
				h.sim("sim001").SetFaults(sim.Faults{Stall: true}) // the power-off hangs in the BMC
				return id, func() { h.sim("sim001").SetFaults(sim.Faults{}) }
			},
			want: "PENDING ALLOCATED POWERING_ON BOOTING RUNNING POWERING_OFF COMPLETED", final: job.Completed,
		},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			gate := &gatedPrepare{release: make(chan struct{})}
			h := newHarness(t, 1, func(h *harness) {
				h.wrap = func(_ string, m machine.Machine) machine.Machine { gate.Machine = m; return gate }
			})
			id, undo := tc.reach(h, gate)
			h.waitState(id, tc.state)
			_, err := h.c.Act(alice, fmt.Sprint(id), api.ActionCancel)
			if tc.state == job.PoweringOff {
				if !errors.Is(err, ErrConflict) {
					t.Errorf("cancel while POWERING_OFF: %v, want ErrConflict (the outcome is recorded)", err)
				}
			} else if err != nil {
				t.Fatalf("cancel while %s: %v", tc.state, err)
			}
			if undo != nil {
				if tc.state != job.PoweringOff {
					h.waitState(id, job.PoweringOff)
				}
				undo()
			}
			j := h.waitState(id, tc.final)
			if got := states(h.events(id)); got != tc.want {
				t.Errorf("events = %s\nwant     %s", got, tc.want)
			}
			evs := h.events(id)
			last := evs[len(evs)-1]
			if tc.final == job.Cancelled {
				byUser := slices.ContainsFunc(evs, func(e job.Event) bool { return e.Cause == job.CauseUser })
				if !byUser || j.Detail != "cancelled by alice" {
					t.Errorf("no event says alice cancelled it: %+v (detail %q)", evs, j.Detail)
				}
			}
			if last.Cause == "" || j.EndTime.IsZero() {
				t.Errorf("final event %+v, end time %v", last, j.EndTime)
			}
			if n := h.node("sim001"); n.State != node.Idle || n.Job != 0 {
				t.Errorf("node after the cancel: %s holding %d (%s)", n.State, n.Job, n.Reason)
			}
			if st, err := h.sim("sim001").PowerState(context.Background()); st != power.Off || err != nil {
				t.Errorf("machine after the cancel: %s, %v", st, err)
			}
		})
	}
}
