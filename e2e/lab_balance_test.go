//go:build vlab

// Issue 11's acceptance test for conservation under faults (~3 min; in
// make test's lab stage). Its history: it failed when a kill -9 landed
// just before a 15 s sample flush (samples are now written as soon as
// losing them would cost the bill), and then about one run in five on two
// things. The meter's unbilled stretches were not stored with the points
// a job's flush stored, and a tail was cut on a straight line through the
// totals where the bill cuts the trapezoid: residuals of +0.1 ... +0.57 %.
// And at a power-off the trapezoid through the BMC's window means, and a
// stale value ipmi_sim served after the off, put 30-70 J of the job's
// running draw after its end: metered vs truth up to +3.86 %. The power-off
// is now a step rebuilt from those means (ctld/offstep.go). On the CI host
// the BMC then read nothing for 2.4 s before a power-off that it confirmed
// 2.4 s late: the step, placed at the confirmation, came after the first
// reading of the machine off, and the trapezoid over the gap billed job 1
// −4.4 % (first window −3.68 %). The step now lies between the request and
// the confirmation. docs/vlab.md has the runs.

package e2e

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// TestLabBalanceWithFaults runs jobs through faults on one lab and checks
// the conservation ledger from both sides: inside bmcctld, billed + unbilled
// + standby (+ live) equals each node's metered counter; outside it, the
// metered counter matches the lab's ground truth, which the BMC sensor only
// shows degraded (averaged, late, noisy, in 4 W steps).
//
// The faults: vnode1's BMC rejects the controller's password for the whole
// test; bmcctld is killed with -9 while a job runs on vnode2; and vnode2's
// power-off at the end of the next job fails twice: its ipmi_sim is frozen
// (SIGSTOP) across the job's own power-off and the reconciler's first
// retry, and answers again before the second.
//
// A frozen BMC reads no power either, so the meter bridges that gap with
// the trapezoid of the readings either side, flagged estimated; the guest
// powers itself off in-band meanwhile, which no out-of-band reading sees.
// The truth check therefore covers the stretch without that gap (the wrong
// password and the kill -9), and the whole test's figure is logged; the
// balance holds within 0.5 % over both.
func TestLabBalanceWithFaults(t *testing.T) {
	l := labUp(t, 2, 800, "--bad-password", "1")
	truth := map[string]func() []truthRow{
		"vnode1": recordTruth(t, filepath.Join(l.dir, "node1", "energy_joules")),
		"vnode2": recordTruth(t, filepath.Join(l.dir, "node2", "energy_joules")),
	}
	work := workDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c := l.client()
	// --idle-off immediate: the power-off at a job's end is the one that fails.
	l.restartDaemonT(t, ctx, append(slices.Clone(reconcilerFlags), "--idle-off", "immediate")...)
	<-time.After(time.Second) // lets the 10 Hz truth recorders cover the window's start
	from := time.Now()

	// The wrong password (all along), and kill -9 of bmcctld mid-job.
	// A busy job: an idle guest's ~42 W lies between the lab sensor's 4 W
	// steps, which its 2 % noise barely dithers, so the sensor alone reads
	// a sleeping job of this length up to ±4 % off (once +3.94 % and, in
	// the same run, -3.51 % for job 2), whatever the faults do; the busy
	// draw (~100 W) is dithered. The accuracy of each path is bench/energy's.
	crashed := l.submit(work, l.job("crashed", "", `command = "end=$(( $(date +%s) + 15 )); while [ $(date +%s) -lt $end ]; do :; done"`))
	d := l.waitFor(ctx, crashed, state(job.Running))
	if d.Node != "vnode2" {
		t.Errorf("job ran on %s, want vnode2 (vnode1's BMC rejects the password)", d.Node)
	}
	<-time.After(time.Until(d.RunTime.Add(6 * time.Second))) // crash with run energy on record
	l.restartDaemon(ctx)
	l.waitFor(ctx, crashed, func(d api.JobDetail) bool { return d.State.Final() })
	// The restarted bmcctld took the recovered job's agent calls again.
	if b, _ := os.ReadFile(filepath.Join(l.dir, "bmcctld.log")); !strings.Contains(string(b), "agent token adopted from the previous process") {
		t.Errorf("bmcctld did not adopt the agent token of job %s, recovered across the kill -9", crashed)
	}
	l.untilNode(ctx, "vnode2", "off after the first job", func(n api.NodeDetail) bool {
		return n.State == string(node.Idle) && n.Power == "off"
	})
	// Stored meter points are up to a flush (15 s) plus a reading (5 s)
	// apart: a window edge inside standby on both sides is interpolated
	// within standby.
	<-time.After(21 * time.Second)
	mid := time.Now()

	// The power-off at the job's end fails, then the reconciler's first
	// retry fails too; the BMC answers again before the second.
	failed := l.submit(work, l.job("offfails", "", `command = "sleep 12"`))
	d = l.waitFor(ctx, failed, state(job.Running))
	<-time.After(time.Until(d.RunTime.Add(9 * time.Second)))
	thaw := l.freeze("node2/ipmi_sim.pid")
	defer thaw()
	d = l.waitFor(ctx, failed, func(d api.JobDetail) bool { return d.State.Final() })
	if d.State != job.Completed {
		t.Errorf("job %s ended %s (%s), want COMPLETED: its command ran to the end", failed, d.State, d.Detail)
	}
	l.untilNode(ctx, "vnode2", "a failed retry of the power-off", func(n api.NodeDetail) bool {
		return slices.ContainsFunc(n.Events, func(e node.Event) bool {
			return e.Action == "power_off_retry" && e.State == node.Down
		})
	})
	thaw()
	n2 := l.untilNode(ctx, "vnode2", "back in service", func(n api.NodeDetail) bool { return n.State == string(node.Idle) })
	if p := l.powerState(2); p != "off" {
		t.Errorf("vnode2 is %s once the retry held; want off (events %v)", p, actions(n2.Events))
	}
	if acts := actions(n2.Events); !slices.Contains(acts, "node_up") {
		t.Errorf("vnode2 events %v: want node_up once the retry held", acts)
	}
	<-time.After(21 * time.Second) // standby on both sides of the window's end, as at mid
	to := time.Now()
	<-time.After(6 * time.Second) // a standby reading (5 s) after the end

	list, err := c.Acct(ctx, api.AcctFilter{IDs: []string{crashed, failed}})
	if err != nil || len(list.Jobs) != 2 {
		t.Fatalf("acct: %v %+v", err, list)
	}
	defer func() {
		if t.Failed() {
			logSamples(t, ctx, c, list.Jobs, truth["vnode2"]())
		}
	}()
	var jobs float64
	for _, a := range list.Jobs {
		jobs += a.EnergyJoules
		// The truth over the bill's span: what the rest of a window's
		// error is made of (standby, a failed power-off) follows.
		rows := truth["vnode2"]()
		tr := truthAt(t, rows, a.End) - truthAt(t, rows, a.Start)
		t.Logf("job %d (%s): %s, billed %.1f J over %.1fs, truth %.1f J (%+.2f %%), estimated=%v %v", a.ID, a.Name, a.State,
			a.EnergyJoules, a.Elapsed, tr, 100*(a.EnergyJoules-tr)/tr, a.EnergyEstimated, a.Reasons)
	}
	for _, w := range []struct {
		name     string
		from, to time.Time
		truth    bool // the metered counter is checked against the truth
	}{
		{"wrong password + kill -9", from, mid, true},
		{"whole test, with the frozen BMC's gap", from, to, false},
	} {
		bal, err := c.Balance(ctx, w.from, w.to)
		if err != nil {
			t.Fatal(err)
		}
		if len(bal.Nodes) != 2 {
			t.Fatalf("balance has %d nodes, want 2: %+v", len(bal.Nodes), bal.Nodes)
		}
		for _, n := range bal.Nodes {
			rows := truth[n.Node]()
			tr := truthAt(t, rows, w.to) - truthAt(t, rows, w.from)
			sum := n.BilledJoules + n.UnbilledJoules + n.StandbyJoules + n.LiveJoules
			t.Logf("%s, %s over %.1fs: metered %.1f J (%s, estimated=%v) = billed %.1f + unbilled %.1f %v + standby %.1f + live %.1f; truth %.1f J",
				w.name, n.Node, w.to.Sub(w.from).Seconds(), n.MeteredJoules, n.Meter, n.Estimated, n.BilledJoules, n.UnbilledJoules,
				n.UnbilledByReason, n.StandbyJoules, n.LiveJoules, tr)
			if n.Node == "vnode1" {
				// Its BMC rejects the controller: nothing is read and
				// nothing billed; the truth is its unmetered standby.
				if n.BilledJoules != 0 || n.MeteredJoules != 0 {
					t.Errorf("%s: vnode1 (a BMC that rejects the password): metered %.1f J, billed %.1f J; want nothing", w.name, n.MeteredJoules, n.BilledJoules)
				}
				continue
			}
			resid := 100 * (sum - n.MeteredJoules) / n.MeteredJoules
			errPct := 100 * (n.MeteredJoules - tr) / tr
			t.Logf("%s, vnode2: balance residual %+.3f %%, metered vs truth %+.2f %%", w.name, resid, errPct)
			if n.MeteredJoules <= 0 || math.Abs(resid) > 0.5 {
				t.Errorf("%s: vnode2 billed + unbilled + standby + live = %.1f J of %.1f J metered: %+.3f %%, limit 0.5 %%", w.name, sum, n.MeteredJoules, resid)
			}
			if n.StandbyJoules <= 0 || n.LiveJoules != 0 {
				t.Errorf("%s: vnode2 standby %.1f J, live %.1f J; want standby metered and no boot live", w.name, n.StandbyJoules, n.LiveJoules)
			}
			// The goal for jobs under a minute is ±3 %.
			if w.truth && math.Abs(errPct) > 3 {
				t.Errorf("%s: vnode2 metered %.1f J, lab truth %.1f J: %+.2f %%, limit 3 %%", w.name, n.MeteredJoules, tr, errPct)
			}
			if !w.truth {
				if math.Abs(n.BilledJoules-jobs) > 0.005*jobs {
					t.Errorf("vnode2 billed %.1f J in the balance, the two jobs' bills add up to %.1f J", n.BilledJoules, jobs)
				}
				if !n.Estimated {
					t.Errorf("vnode2 over a BMC silent for two power-offs: balance not flagged estimated")
				}
			}
		}
	}
}

// logSamples logs each job's power readings beside the lab's truth at
// their dates, for a failure to be read without the lab.
func logSamples(t *testing.T, ctx context.Context, c *api.Client, jobs []api.AcctJob, rows []truthRow) {
	for _, a := range jobs {
		js, err := c.Samples(ctx, a.ID)
		if err != nil {
			t.Logf("samples of job %d: %v", a.ID, err)
			continue
		}
		for _, b := range js.Boots {
			for i, s := range b.Samples {
				tw := math.NaN() // the truth's mean draw since the reading before
				if i > 0 && len(rows) > 1 && !b.Samples[i-1].Time.Before(rows[0].t) && !s.Time.After(rows[len(rows)-1].t) {
					p := b.Samples[i-1]
					tw = (truthAt(t, rows, s.Time) - truthAt(t, rows, p.Time)) / s.Time.Sub(p.Time).Seconds()
				}
				t.Logf("job %d boot %d %s: %.1f W (truth since the last: %.1f W)", a.ID, b.Boot, s.Time.Format("15:04:05.000"), s.Watts, tw)
			}
		}
	}
}
