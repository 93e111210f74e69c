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
}

// billTx writes the ledger entries of the boot that old ends, in the same
// transaction as the transition that takes the job off its powered node:
// to a final state, back to the queue (requeue, failed boot) or to a fresh
// boot after a restart. accounting.BillBoot computes them from what this
// gathers: the event log, the boot's samples (store and memory) and the job
// and node facts. Entries are never rewritten: a boot already billed is left
// alone, so nothing is billed twice. Once billed, the boot's raw samples
// give way to a down-sampled power curve.
//
// Only a store error fails the transition: energy that cannot be computed
// is billed as an estimated zero with the reason, never silently.
func (c *Controller) billTx(tx *store.Tx, old, j *job.Job, ev job.Event) ([]billedEntry, error) {
	if old == nil || !powered(old.State) || powered(j.State) || tx.Billed(old.ID, old.Boot) {
		return nil, nil
	}
	b, bs, err := c.computeBill(tx, old, c.factsLocked(old, j.State), c.billEnd(old, ev.Time))
	if err != nil {
		return nil, err
	}
	var out []billedEntry
	for i := range b.Entries {
		e := &b.Entries[i]
		if err := tx.PutLedgerEntry(storeEntry(e)); err != nil {
			return nil, err
		}
		out = append(out, billedEntry{Account: e.Account, User: e.User, Kind: e.Kind, Phase: e.Phase, End: e.End, Joules: e.Joules, Seconds: e.Duration})
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
	if err := tx.DropSamples(old.Node, old.ID, old.Boot); err != nil {
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
	bs, err := c.samplesTx(tx, j.Node, j.ID, j.Boot)
	if err != nil {
		return accounting.Bill{}, bootSamples{}, err
	}
	b := accounting.BillBoot(accounting.BootUsage{
		Facts: facts, Events: events, End: end, Samples: bs.samples, Options: bs.opt, RAPL: bs.rapl,
		Tariffs: c.cfg.Energy.Tariffs, Carbon: c.carbon(), Now: c.clk.Now(),
	})
	return b, bs, nil
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
