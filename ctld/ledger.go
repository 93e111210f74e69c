package ctld

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/store"
)

// billedEntry is what a committed bill adds to an account.
type billedEntry struct {
	Account string
	Joules  float64
}

// billTx writes the ledger entries of the boot that old ends, in the same
// transaction as the transition that takes the job off its powered node:
// to a final state, back to the queue (requeue, failed boot) or to a fresh
// boot after a restart. Every powered stretch is billed to its job, failed
// boots included, each under its boot number. Entries are never rewritten:
// one that exists already is left alone, so nothing is billed twice.
//
// Only a store error fails the transition: energy that cannot be computed
// is billed as an estimated zero with the reason, never silently.
func (c *Controller) billTx(tx *store.Tx, old, j *job.Job, ev job.Event) ([]billedEntry, error) {
	if old == nil || !powered(old.State) || powered(j.State) {
		return nil, nil
	}
	lb := tx.Bucket(ledgerBucket)
	if lb == nil {
		return nil, fmt.Errorf("ledger bucket missing")
	}
	if lb.Get(ledgerKey(old.ID, old.Boot, accounting.Boot)) != nil {
		return nil, nil
	}
	b, err := c.computeBill(tx, old, c.entryBase(old, j.State), ev.Time)
	if err != nil {
		return nil, err
	}
	var out []billedEntry
	for _, e := range b.entries {
		v, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		if err := lb.Put(ledgerKey(old.ID, old.Boot, accounting.Phase(e.Phase)), v); err != nil {
			return nil, err
		}
		out = append(out, billedEntry{Account: e.Account, Joules: e.Joules})
	}
	samples, ph, opt := b.samples, b.phases, b.opt
	if len(samples) > 0 {
		curve, err := accounting.Downsample(samples, curvePoints, opt)
		if err != nil {
			curve = nil
		}
		v, err := json.Marshal(storedCurve{Node: old.Node, Phases: ph, Samples: curve})
		if err != nil {
			return nil, err
		}
		cb, err := tx.Bucket(samplesBucket).CreateBucketIfNotExists(bucketCurve)
		if err != nil {
			return nil, err
		}
		if err := cb.Put(curveKey(old.ID, old.Boot), v); err != nil {
			return nil, err
		}
	}
	if err := dropRawTx(tx, old.Node, old.ID, old.Boot); err != nil {
		return nil, err
	}
	return out, nil
}

// bill is one boot's ledger entries and what they were computed from.
type bill struct {
	entries []api.LedgerEntry
	samples []accounting.Sample
	phases  accounting.Phases
	opt     accounting.Options // the boot's: its counter's wrap
}

// computeBill integrates and prices the boot j is in (or ends), up to end,
// with the samples the store and memory hold; base carries the job's facts
// (entryBase). It writes nothing.
func (c *Controller) computeBill(tx *store.Tx, j *job.Job, base api.LedgerEntry, end time.Time) (bill, error) {
	events, err := tx.Events(j.ID)
	if err != nil {
		return bill{}, err
	}
	ph, ran, offPhase := phasesOf(events, end)
	bs, err := c.samplesTx(tx, j.Node, j.ID, j.Boot)
	if err != nil {
		return bill{}, err
	}
	samples, opt := bs.samples, bs.opt
	var problem string
	res, err := accounting.IntegratePhases(samples, ph, opt)
	if err != nil {
		problem = fmt.Sprintf("energy could not be computed: %v; billed 0 J", err)
		res = accounting.PhaseResult{}
	}
	now := c.clk.Now()
	// Boot always; run and off only when the job got there (a failed boot
	// was all booting; a cancel during boot goes from boot to off).
	phases := []accounting.Phase{accounting.Boot}
	if ran {
		phases = append(phases, accounting.Run)
	}
	if offPhase {
		phases = append(phases, accounting.Off)
	}
	out := bill{samples: samples, phases: ph, opt: opt}
	for _, p := range phases {
		from, upto, _ := ph.Window(p)
		r := res.Phase(p)
		e := base
		e.Phase, e.Start, e.End, e.Recorded = string(p), from, upto, now
		e.Joules, e.Duration = r.Joules, upto.Sub(from).Seconds()
		e.Samples, e.Coverage, e.Method = r.Samples, r.Coverage, string(r.Method)
		if bs.rapl && r.Method == accounting.MethodCounter {
			e.Method = methodRAPL
		}
		e.EnergyEstimated, e.Reasons = r.Estimated, r.Reasons
		if problem != "" {
			e.EnergyEstimated, e.Reasons, e.Method = true, []string{problem}, string(accounting.MethodNone)
		}
		if ts := c.cfg.Energy.Tariffs; ts != nil && problem == "" {
			cost, pieces, perr := ts.Price(samples, from, upto, opt)
			if perr != nil {
				e.EnergyEstimated = true
				e.Reasons = append(e.Reasons, fmt.Sprintf("could not be priced: %v", perr))
			}
			e.Cost, e.Currency = cost, ts.Currency()
			var names []string
			for _, pc := range pieces {
				e.Pieces = append(e.Pieces, api.Piece{Tariff: pc.Tariff, PricePerKWh: pc.PricePerKWh, From: pc.From, To: pc.To, Joules: pc.Energy.Joules, Cost: pc.Cost})
				if len(names) == 0 || names[len(names)-1] != pc.Tariff {
					names = append(names, pc.Tariff)
				}
			}
			e.Tariff = strings.Join(names, "+")
		}
		out.entries = append(out.entries, e)
	}
	return out, nil
}

// phasesOf reads the phase edges of the job's latest boot from its event
// log: POWERING_ON starts the boot phase, RUNNING the run phase,
// POWERING_OFF the power-off phase, and end (this transition) closes it. A
// boot that never reached RUNNING has a zero-length run phase at the
// point it stopped. ran and off say whether the boot reached RUNNING and
// POWERING_OFF.
func phasesOf(events []job.Event, end time.Time) (p accounting.Phases, ran, off bool) {
	start := -1
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].State == job.PoweringOn {
			start = i
			break
		}
	}
	p = accounting.Phases{PowerOn: end, RunStart: end, RunEnd: end, OffConfirmed: end}
	if start < 0 {
		return p, false, false
	}
	p.PowerOn = events[start].Time
	var runAt, offAt time.Time
	for _, e := range events[start+1:] {
		switch e.State {
		case job.Running:
			if !ran {
				ran, runAt = true, e.Time
			}
		case job.PoweringOff:
			if !off {
				off, offAt = true, e.Time
			}
		}
	}
	switch {
	case ran && off:
		p.RunStart, p.RunEnd = runAt, offAt
	case ran:
		p.RunStart = runAt
	case off:
		p.RunStart, p.RunEnd = offAt, offAt
	}
	// Clamp: edges from one clock are ordered, but never trust that with money.
	if p.RunStart.Before(p.PowerOn) {
		p.RunStart = p.PowerOn
	}
	if p.RunEnd.Before(p.RunStart) {
		p.RunEnd = p.RunStart
	}
	if p.OffConfirmed.Before(p.RunEnd) {
		p.OffConfirmed = p.RunEnd
	}
	return p, ran, off
}

// entryBase fills what every ledger entry of a boot says about the job and
// node. It must be called with c.mu held.
func (c *Controller) entryBase(j *job.Job, to job.State) api.LedgerEntry {
	e := api.LedgerEntry{
		Job: j.ID, JobID: displayID(j), Boot: j.Boot, Name: j.Spec.Name, User: j.User, Account: j.Spec.Account,
		Node: j.Node, Image: j.Spec.Image, Kernel: j.Spec.Kernel, Command: commandLine(j.Spec.Command), State: to,
	}
	if _, d, ok := strings.Cut(j.Spec.Image, "@"); ok && strings.Contains(d, ":") {
		e.ImageDigest = d
	}
	if j.ImageDigest != "" {
		e.ImageDigest = j.ImageDigest
	}
	if j.KernelName != "" {
		e.Kernel = j.KernelName
	}
	if rt, ok := c.nodes[j.Node]; ok {
		e.Arch, e.Kind, e.Simulated = rt.Arch, rt.Kind, rt.m.Simulated()
		if e.Kind == "" {
			e.Kind = rt.Arch
		}
	}
	return e
}

// bootFactsOf asks a machine that resolves images and kernels (the real
// boot path) what this boot uses; the simulator resolves nothing.
func bootFactsOf(m Machine, j *job.Job) (imageDigest, kernel string) {
	if f, ok := m.(interface {
		BootFacts(*job.Job) (string, string)
	}); ok {
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
