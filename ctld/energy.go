package ctld

// Energy as the controller keeps it live: how power is sampled and priced,
// the accounts' billed totals the quotas need, and a boot's samples as its
// bill reads them. The sampling itself is in sampling.go.

import (
	"slices"
	"sync"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/store"
)

// EnergyConfig says how power is sampled and energy priced.
type EnergyConfig struct {
	// PowerInterval is how often a powered node's meter is read; 0 means
	// one second, a negative value turns sampling off.
	PowerInterval time.Duration
	// SampleFlush is how often a node's new samples are written to the
	// store (a crash loses at most this much, billed as estimated); 0 = 15 s.
	SampleFlush time.Duration
	// MaxGapIntervals is how many intervals without a reading still count
	// as measured; 0 = accounting's default (5).
	MaxGapIntervals int
	// Tariffs prices energy; nil bills joules at no cost.
	Tariffs *accounting.Tariffs
	// SampleRetention is how long a billed boot's raw readings are kept
	// (compacted) for disputes; 0 = DefaultSampleRetention.
	SampleRetention time.Duration
	// StandbyInterval is how often a node with no job (off, or on and
	// idle) is read for the unbilled ledger; 0 = 5 × PowerInterval.
	StandbyInterval time.Duration
	// Failures says who pays for a boot that failed through the node or
	// the controller; "" = accounting.FailuresCluster.
	Failures accounting.FailurePolicy
	// OverheadAccount is the account credited failures count to (quotas,
	// fair share); "" = "overhead".
	OverheadAccount string
	// Carbon is the carbon-intensity schedule from the tariff file (its
	// windows); hourly values imported later join it (carbon.go). Nil:
	// only imported values, if any.
	Carbon *accounting.Carbon
}

func (e EnergyConfig) interval() time.Duration {
	if e.PowerInterval == 0 {
		return time.Second
	}
	return e.PowerInterval
}

// DefaultSampleRetention keeps billed samples 90 days.
const DefaultSampleRetention = 90 * 24 * time.Hour

func (e EnergyConfig) retention() time.Duration {
	if e.SampleRetention <= 0 {
		return DefaultSampleRetention
	}
	return e.SampleRetention
}

func (e EnergyConfig) flushEvery() time.Duration {
	if e.SampleFlush <= 0 {
		return 15 * time.Second
	}
	return e.SampleFlush
}

func (e EnergyConfig) options() accounting.Options {
	iv := e.interval()
	if iv < 0 {
		iv = 0
	}
	return accounting.Options{Interval: iv, MaxGapIntervals: e.MaxGapIntervals}
}

// energyState is the controller's live sampling and the billed totals by
// account. Lock order: Controller.mu before energyState.mu, never the
// other way round.
type energyState struct {
	mu   sync.Mutex
	recs map[string]*recording // by node
	base map[string]baseline   // by node: read before a boot's recording starts
	used map[string]float64    // joules billed by account
	// meters are the nodes' metered totals and unbilled stretches
	// (metering.go).
	meters map[string]*nodeMeter
	swept  time.Time // the last sweep of old samples (retention.go); reconciler only
}

func newEnergyState() *energyState {
	return &energyState{recs: map[string]*recording{}, base: map[string]baseline{}, used: map[string]float64{}, meters: map[string]*nodeMeter{}}
}

// powered reports whether a job in state s has its node switched on (or
// being switched on or off) and so uses energy billed to it.
func powered(s job.State) bool {
	switch s {
	case job.PoweringOn, job.Booting, job.Running, job.PoweringOff:
		return true
	}
	return false
}

// loadEnergy sums the ledger by account for the quotas.
func (c *Controller) loadEnergy() error {
	return c.st.View(func(tx *store.Tx) error {
		return tx.ForEachLedgerEntry(func(e *store.LedgerEntry) error {
			c.en.used[c.chargedAccount(e.Account, e.Credited)] += e.Joules
			return nil
		})
	})
}

// billEnd is where the bill of the boot j leaves ends: when its node was
// confirmed off, if the recording saw that, else at the transition (at).
// The commit that follows a confirmed power off comes a moment later, and
// that moment's energy is the switched-off machine's, not the job's.
func (c *Controller) billEnd(j *job.Job, at time.Time) time.Time {
	c.en.mu.Lock()
	defer c.en.mu.Unlock()
	if r := c.en.recs[j.Node]; r != nil && r.job == j.ID && r.boot == j.Boot && !r.offAt.IsZero() && r.offAt.Before(at) {
		return r.offAt
	}
	return at
}

// energyAfterLocked follows a committed transition made at: sampling starts when
// the node is switched on for the job, stops once the job left it, and the
// billed energy counts towards the quotas and the fair share (quota.go).
func (c *Controller) energyAfterLocked(old, j *job.Job, billed []billedEntry, at time.Time) {
	if old != nil && powered(old.State) && !powered(j.State) {
		c.stopRecordingLocked(old.Node, old.ID, old.Boot)
		if len(billed) > 0 {
			c.meterBillEndedLocked(old.Node, billed)
		}
	}
	if powered(j.State) && (old == nil || !powered(old.State)) {
		c.meterBillStartsLocked(j.Node, at)
		c.startRecordingLocked(j, at)
	}
	if len(billed) == 0 {
		return
	}
	c.en.mu.Lock()
	for _, b := range billed {
		c.en.used[b.Account] += b.Joules
	}
	c.en.mu.Unlock()
	c.settleLocked(j, billed)
	if c.hooks.Billed != nil {
		for _, b := range billed {
			c.hooks.Billed(b.Account, b.Joules)
		}
	}
}

// bootSamples is what one boot recorded: its readings in time order and
// the options to integrate them with.
type bootSamples struct {
	samples []accounting.Sample
	opt     accounting.Options
	rapl    bool // the counter readings are the agent's RAPL counter
}

// samplesTx returns the readings of one boot of a job on node: those the
// store holds and those still in memory, in time order.
func (c *Controller) samplesTx(tx *store.Tx, node string, id, boot uint64) (bootSamples, error) {
	chunks, err := tx.BootSamples(node, id, boot)
	if err != nil {
		return bootSamples{}, err
	}
	var out []accounting.Sample
	var rapl bool
	var counterMax float64
	for _, ch := range chunks {
		out = append(out, accountingSamples(ch.Samples)...)
		rapl, counterMax = rapl || ch.RAPL, max(counterMax, ch.CounterMax)
	}
	c.en.mu.Lock()
	if r := c.en.recs[node]; r != nil && r.job == id && r.boot == boot {
		out = append(out, r.samples...)
		rapl, counterMax = rapl || r.rapl, max(counterMax, r.raplMax)
	}
	c.en.mu.Unlock()
	slices.SortStableFunc(out, func(a, b accounting.Sample) int { return a.Time.Compare(b.Time) })
	opt := c.cfg.Energy.options()
	opt.CounterMax = counterMax
	return bootSamples{
		samples: slices.CompactFunc(out, func(a, b accounting.Sample) bool { return a.Time.Equal(b.Time) }),
		opt:     opt,
		rapl:    rapl,
	}, nil
}

// EnergyUsed returns the joules billed to each account so far.
func (c *Controller) EnergyUsed() map[string]float64 {
	c.en.mu.Lock()
	defer c.en.mu.Unlock()
	out := make(map[string]float64, len(c.en.used))
	for k, v := range c.en.used {
		out[k] = v
	}
	return out
}
