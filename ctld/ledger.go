package ctld

import (
	"strconv"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/store"
)

// billedEntry is what a committed bill adds to an account and its user's
// quotas and fair share.
type billedEntry struct {
	Account string
	User    string
	Kind    string // machine kind, for its expected draw
	Phase   accounting.Phase
	End     time.Time
	Joules  float64
	Seconds float64
	// Credited energy is the cluster's (a failure of the node or the
	// controller): it counts to the overhead account, not the job's.
	Credited bool
}

// billedOf is what a ledger entry adds to the quotas and the fair share:
// a credited entry counts to the overhead account and no user.
func (c *Controller) billedOf(e *store.LedgerEntry) billedEntry {
	b := billedEntry{Account: e.Account, User: e.User, Kind: e.Kind, Phase: accounting.Phase(e.Phase),
		End: e.End, Joules: e.Joules, Seconds: e.Duration, Credited: e.Credited}
	if e.Credited {
		b.Account, b.User = c.chargedAccount(e.Account, true), ""
	}
	return b
}

// chargedAccount is the account a billed entry's energy counts to.
func (c *Controller) chargedAccount(account string, credited bool) string {
	if !credited {
		return account
	}
	if c.cfg.Energy.OverheadAccount != "" {
		return c.cfg.Energy.OverheadAccount
	}
	return DefaultOverheadAccount
}

// DefaultOverheadAccount is the account credited failures count to.
const DefaultOverheadAccount = "overhead"

// billTx writes the ledger entries of the boot that old ends, in the same
// transaction as the transition that takes the job off its powered node:
// to a final state, back to the queue (requeue, failed boot) or to a fresh
// boot after a restart. accounting.BillBoot computes them from what this
// gathers: the event log, the boot's samples (store and memory) and the job
// and node facts. Entries are never rewritten: a boot already billed is left
// alone, so nothing is billed twice. Once billed, the boot gets a
// down-sampled power curve, and its raw samples are compacted and kept for
// the samples' retention.
//
// A boot that failed through the node or the controller (nodeFault: the
// step put the node DOWN) is credited under the failure policy.
//
// Only a store error fails the transition: energy that cannot be computed
// is billed as an estimated zero with the reason, never silently.
func (c *Controller) billTx(tx *store.Tx, old, j *job.Job, ev job.Event, nodeFault bool) ([]billedEntry, error) {
	if old == nil || !powered(old.State) || powered(j.State) || tx.Billed(old.ID, old.Boot) {
		return nil, nil
	}
	b, bs, err := c.computeBill(tx, old, c.factsLocked(old, j.State), c.billEnd(old, ev.Time))
	if err != nil {
		return nil, err
	}
	credit := c.failures().Credit(j.State, ev.Reason, nodeFault)
	var out []billedEntry
	for i := range b.Entries {
		e := &b.Entries[i]
		if credit != "" {
			e.Credited, e.CreditReason = true, credit
		}
		if err := tx.PutLedgerEntry(storeEntry(e)); err != nil {
			return nil, err
		}
		out = append(out, c.billedOf(storeEntry(e)))
	}
	for _, qe := range c.quotaEventsLocked(out, ev) {
		if err := tx.AddEvent(old.ID, qe); err != nil {
			return nil, err
		}
	}
	if len(bs.samples) > 0 {
		cv := storeCurve(old, b.Phases, accounting.PowerCurve(bs.samples, bs.opt))
		if err := tx.PutCurve(cv); err != nil {
			return nil, err
		}
	}
	// The raw readings stay, compacted (every window's energy unchanged),
	// for disputes (bmcq acct --samples, --recompute) until the retention
	// sweep drops them.
	chunk := store.SampleChunk{Node: old.Node, Job: old.ID, Boot: old.Boot, Samples: storeSamples(accounting.Compact(bs.samples, bs.opt)),
		RAPL: bs.rapl, CounterMax: bs.opt.CounterMax}
	if err := tx.ReplaceBootSamples(&chunk); err != nil {
		return nil, err
	}
	return out, nil
}

// computeBill bills the boot j is in (or ends) up to end, from the event log
// and the samples the store and memory hold; facts come from factsLocked.
// It writes nothing, and returns the samples the bill was computed from.
func (c *Controller) computeBill(tx *store.Tx, j *job.Job, facts accounting.Facts, end time.Time) (accounting.Bill, bootSamples, error) {
	events, err := tx.Events(j.ID)
	if err != nil {
		return accounting.Bill{}, bootSamples{}, err
	}
	return c.billFrom(tx, j, facts, events, end)
}

// billFrom bills the latest boot in events of j's node and boot up to end.
func (c *Controller) billFrom(tx *store.Tx, j *job.Job, facts accounting.Facts, events []job.Event, end time.Time) (accounting.Bill, bootSamples, error) {
	bs, err := c.samplesTx(tx, j.Node, j.ID, j.Boot)
	if err != nil {
		return accounting.Bill{}, bootSamples{}, err
	}
	u := accounting.BootUsage{
		Facts: facts, Events: events, End: end, Samples: bs.samples, Options: bs.opt, RAPL: bs.rapl,
		Tariffs: c.cfg.Energy.Tariffs, Carbon: c.carbon(), Now: c.clk.Now(),
	}
	if rt, ok := c.nodes[j.Node]; ok {
		u.FloorWatts = rt.idleFloor()
		if len(bs.samples) > 0 {
			u.Meter = rt.meterName(bs.samples[len(bs.samples)-1])
		}
	}
	b := accounting.BillBoot(u)
	return b, bs, nil
}

// failures is the failure billing policy in force.
func (c *Controller) failures() accounting.FailurePolicy {
	if c.cfg.Energy.Failures == "" {
		return accounting.FailuresCluster
	}
	return c.cfg.Energy.Failures
}

// idleFloor is the least a job billed from self-reported readings pays per
// second on this node: the nodes file's idle_watts, else the simulator's
// idle draw. Both are fixed at start, so no lock is needed.
func (rt *nodeRT) idleFloor() float64 {
	if rt.idleWatts > 0 {
		return rt.idleWatts
	}
	return rt.bmc.SimIdleWatts
}

// factsLocked gathers what every ledger entry of j's boot says about the
// job and its node, the boot ending in state to. Called with c.mu held.
func (c *Controller) factsLocked(j *job.Job, to job.State) accounting.Facts {
	f := accounting.Facts{
		Job: j.ID, JobID: displayID(j), Boot: j.Boot, Name: j.Spec.Name, User: j.User, Account: j.Spec.Account,
		Node: j.Node, Image: j.Spec.Image, Kernel: j.Spec.Kernel, Command: commandLine(j.Spec.Command), State: to,
	}
	if _, d, ok := strings.Cut(j.Spec.Image, "@"); ok && strings.Contains(d, ":") {
		f.ImageDigest = d
	}
	if j.ImageDigest != "" {
		f.ImageDigest = j.ImageDigest
	}
	if j.KernelName != "" {
		f.Kernel = j.KernelName
	}
	if rt, ok := c.nodes[j.Node]; ok {
		f.Arch, f.Kind, f.Simulated = rt.Arch, rt.Kind, rt.m.Simulated()
		if f.Kind == "" {
			f.Kind = rt.Arch
		}
	}
	return f
}

// bootFactsOf asks a machine that resolves images and kernels (the real
// boot path) what this boot uses; the simulator resolves nothing.
func bootFactsOf(m machine.Machine, j *job.Job) (imageDigest, kernel string) {
	if f, ok := m.(machine.BootFacter); ok {
		return f.BootFacts(j)
	}
	return "", ""
}

func commandLine(cmd job.Command) string {
	if cmd.Shell || len(cmd.Argv) == 1 {
		return strings.Join(cmd.Argv, " ")
	}
	q := make([]string, len(cmd.Argv))
	for i, a := range cmd.Argv {
		if strings.ContainsAny(a, " \t\"'\\") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
