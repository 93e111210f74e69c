package ctld

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/store"
)

// AcctFilter narrows Acct. Empty sets match everything.
type AcctFilter struct {
	IDs      map[uint64]bool
	Users    map[string]bool
	Accounts map[string]bool
	States   map[job.State]bool
	// Start and End keep jobs whose billed window overlaps [Start, End].
	Start, End time.Time
	Entries    bool
}

// Acct reads the ledger and sums it by job, in job id order. A job's state
// is its state now; its energy is every boot it was billed for.
func (c *Controller) Acct(f AcctFilter) (api.AcctList, error) {
	var out api.AcctList
	if ts := c.cfg.Energy.Tariffs; ts != nil {
		out.Currency = ts.Currency()
	}
	var entries []api.LedgerEntry
	states := map[uint64]job.State{}
	// Jobs on a powered node have no ledger entries for their current boot
	// yet: show their energy so far, computed as the bill will be. Their
	// facts are read under the lock, before the read transaction (see
	// ListJobs for why never the other way round).
	type liveJob struct {
		j    *job.Job
		base api.LedgerEntry
	}
	var live []liveJob
	c.mu.RLock()
	for _, j := range c.jobs {
		if powered(j.State) && (len(f.IDs) == 0 || f.IDs[j.ID]) {
			live = append(live, liveJob{j, c.entryBase(j, j.State)})
		}
	}
	c.mu.RUnlock()
	now := c.clk.Now()
	err := c.st.View(func(tx *store.Tx) error {
		lb := tx.Bucket(ledgerBucket)
		if lb == nil {
			return nil
		}
		cur := lb.Cursor()
		var k, v []byte
		if len(f.IDs) == 1 {
			for id := range f.IDs {
				p := binary.BigEndian.AppendUint64(nil, id)
				k, v = cur.Seek(p)
				for ; k != nil && bytes.HasPrefix(k, p); k, v = cur.Next() {
					if err := collect(&entries, k, v); err != nil {
						return err
					}
				}
			}
		} else {
			for k, v = cur.First(); k != nil; k, v = cur.Next() {
				if err := collect(&entries, k, v); err != nil {
					return err
				}
			}
		}
		for _, lj := range live {
			b, err := c.computeBill(tx, lj.j, lj.base, now)
			if err != nil {
				return err
			}
			for i := range b.entries {
				b.entries[i].Live = true
			}
			entries = append(entries, b.entries...)
		}
		slices.SortStableFunc(entries, func(a, b api.LedgerEntry) int {
			return cmp.Or(cmp.Compare(a.Job, b.Job), cmp.Compare(a.Boot, b.Boot),
				cmp.Compare(phaseByte[accounting.Phase(a.Phase)], phaseByte[accounting.Phase(b.Phase)]))
		})
		for _, e := range entries {
			if _, ok := states[e.Job]; ok {
				continue
			}
			if j, err := tx.Job(e.Job); err == nil {
				states[e.Job] = j.State
			}
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	// Live records are newer than the store only by what is being committed.
	c.mu.RLock()
	for id := range states {
		if j, ok := c.jobs[id]; ok {
			states[id] = j.State
		}
	}
	c.mu.RUnlock()
	for i := 0; i < len(entries); {
		k := i
		for k < len(entries) && entries[k].Job == entries[i].Job {
			k++
		}
		aj := sumJob(entries[i:k], states[entries[i].Job], f.Entries)
		if f.match(&aj) {
			out.Jobs = append(out.Jobs, aj)
		}
		i = k
	}
	return out, nil
}

func collect(entries *[]api.LedgerEntry, k, v []byte) error {
	var e api.LedgerEntry
	if err := json.Unmarshal(v, &e); err != nil {
		return fmt.Errorf("ledger entry %x: %w", k, err)
	}
	*entries = append(*entries, e)
	return nil
}

func (f AcctFilter) match(j *api.AcctJob) bool {
	return (len(f.IDs) == 0 || f.IDs[j.ID]) &&
		(len(f.Users) == 0 || f.Users[j.User]) &&
		(len(f.Accounts) == 0 || f.Accounts[j.Account]) &&
		(len(f.States) == 0 || f.States[j.State]) &&
		(f.Start.IsZero() || !j.End.Before(f.Start)) &&
		(f.End.IsZero() || !j.Start.After(f.End))
}

// sumJob adds up one job's entries (in key order: boot, then phase).
func sumJob(es []api.LedgerEntry, state job.State, keep bool) api.AcctJob {
	last := es[len(es)-1]
	j := api.AcctJob{
		ID: last.Job, JobID: last.JobID, Name: last.Name, User: last.User, Account: last.Account, State: state,
		Node: last.Node, Arch: last.Arch, Kind: last.Kind, Image: last.Image, ImageDigest: last.ImageDigest,
		Kernel: last.Kernel, Command: last.Command, Currency: last.Currency, Simulated: last.Simulated,
		Start: es[0].Start, End: last.End,
	}
	if j.State == "" {
		j.State = last.State
	}
	boots := map[uint64]bool{}
	for _, e := range es {
		boots[e.Boot] = true
		j.Live = j.Live || e.Live
		j.EnergyJoules += e.Joules
		j.Cost += e.Cost
		switch accounting.Phase(e.Phase) {
		case accounting.Boot:
			j.BootJoules += e.Joules
		case accounting.Run:
			j.RunJoules += e.Joules
			j.RunSeconds += e.Duration
		case accounting.Off:
			j.OffJoules += e.Joules
		}
		if e.Start.Before(j.Start) {
			j.Start = e.Start
		}
		if e.End.After(j.End) {
			j.End = e.End
		}
		if e.EnergyEstimated {
			j.EnergyEstimated = true
			prefix := fmt.Sprintf("boot %d %s: ", e.Boot, e.Phase)
			if len(e.Reasons) == 0 {
				j.Reasons = append(j.Reasons, prefix+"estimated")
			}
			for _, r := range e.Reasons {
				j.Reasons = append(j.Reasons, prefix+r)
			}
		}
	}
	j.Boots = len(boots)
	j.Elapsed = j.End.Sub(j.Start).Seconds()
	if keep {
		j.Entries = slices.Clone(es)
	}
	return j
}

// Curve returns the power curve of each boot of a job: stored
// (down-sampled) once billed, live from memory while the node is on.
func (c *Controller) Curve(id uint64) (api.PowerCurve, error) {
	out := api.PowerCurve{Job: id}
	err := c.st.View(func(tx *store.Tx) error {
		cb := tx.Bucket(samplesBucket).Bucket(bucketCurve)
		if cb == nil {
			return nil
		}
		p := binary.BigEndian.AppendUint64(nil, id)
		cur := cb.Cursor()
		for k, v := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = cur.Next() {
			var sc storedCurve
			if err := json.Unmarshal(v, &sc); err != nil {
				return fmt.Errorf("power curve %x: %w", k, err)
			}
			out.Boots = append(out.Boots, curveBoot(binary.BigEndian.Uint64(k[8:16]), sc.Node, sc.Phases, sc.Samples))
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	c.mu.RLock()
	j, live := c.jobs[id]
	c.mu.RUnlock()
	if live && powered(j.State) {
		var bs bootSamples
		err := c.st.View(func(tx *store.Tx) error {
			var err error
			bs, err = c.samplesTx(tx, j.Node, j.ID, j.Boot)
			return err
		})
		samples := bs.samples
		if err != nil {
			return out, err
		}
		var events []job.Event
		c.st.View(func(tx *store.Tx) error { events, err = tx.Events(id); return err })
		ph, _, _ := phasesOf(events, c.clk.Now())
		if ds, err := accounting.Downsample(samples, curvePoints, bs.opt); err == nil {
			samples = ds
		}
		out.Boots = append(out.Boots, curveBoot(j.Boot, j.Node, ph, samples))
	}
	if len(out.Boots) == 0 {
		return out, fmt.Errorf("job %d: no power samples: %w", id, ErrNotFound)
	}
	return out, nil
}

func curveBoot(boot uint64, node string, ph accounting.Phases, s []accounting.Sample) api.CurveBoot {
	b := api.CurveBoot{Boot: boot, Node: node, PowerOn: ph.PowerOn, RunStart: ph.RunStart, RunEnd: ph.RunEnd, Off: ph.OffConfirmed}
	for _, x := range s {
		b.Points = append(b.Points, api.CurvePoint{Time: x.Time, Watts: x.Watts})
	}
	return b
}

// acct serves GET /v1/acct.
func (s *Server) acct(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f AcctFilter
	for _, v := range q["id"] {
		for _, one := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.SplitN(one, "_", 2)[0], 10, 64)
			if err != nil {
				WriteError(w, fmt.Errorf("%w: %q is not a job id", ErrInvalid, one))
				return
			}
			if f.IDs == nil {
				f.IDs = map[uint64]bool{}
			}
			f.IDs[n] = true
		}
	}
	for _, v := range q["user"] {
		f.Users = setAdd(f.Users, v)
	}
	for _, v := range q["account"] {
		f.Accounts = setAdd(f.Accounts, v)
	}
	states, err := parseStates(q["state"])
	if err != nil {
		WriteError(w, err)
		return
	}
	f.States = states
	for name, t := range map[string]*time.Time{"start": &f.Start, "end": &f.End} {
		if v := q.Get(name); v != "" {
			p, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				WriteError(w, fmt.Errorf("%w: %s: %w", ErrInvalid, name, err))
				return
			}
			*t = p
		}
	}
	f.Entries = q.Get("entries") != ""
	list, err := s.c.Acct(f)
	if err != nil {
		WriteError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// curve serves GET /v1/acct/{id}/curve.
func (s *Server) curve(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		WriteError(w, fmt.Errorf("%w: %q is not a job id", ErrInvalid, r.PathValue("id")))
		return
	}
	cv, err := s.c.Curve(id)
	if err != nil {
		WriteError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, cv)
}
