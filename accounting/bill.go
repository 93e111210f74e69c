package accounting

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/job"
)

// Facts are what every ledger entry of a boot says about the job and the
// node it ran on; the controller gathers them.
type Facts struct {
	Job         uint64
	JobID       string // as users write it: 12, or 13_4 for an array task
	Boot        uint64
	Name        string
	User        string
	Account     string
	Node        string
	Arch        string
	Kind        string
	Image       string
	ImageDigest string
	Kernel      string
	Command     string
	Simulated   bool
	// State is where the job went when this boot ended (for a boot still
	// in progress: where it is now).
	State job.State
}

// Entry is one ledger line: the energy one phase of one boot of a job used,
// and its price.
type Entry struct {
	Facts
	Phase      Phase
	Start, End time.Time
	Joules     float64
	Duration   float64 // seconds, End - Start
	Samples    int     // readings used that fall inside the phase
	Coverage   float64 // fraction of the phase whose energy was measured
	Method     Method
	Tariff     string // tariff names in order, "+"-joined when the phase spans windows
	Currency   string
	Cost       float64
	Pieces     []EntryPiece
	// Estimated is set when part of the energy was not measured; Reasons
	// says what and how it was estimated. Never a silent zero.
	Estimated bool
	Reasons   []string
	Recorded  time.Time // when the bill was computed
	// CarbonGrams is the CO2e of the energy at the grid's intensity over
	// the phase (0 without a carbon schedule); CarbonUnknownJ the joules
	// used where the schedule knew no intensity, which add no grams.
	CarbonGrams    float64
	CarbonUnknownJ float64
	// Credited is set on an entry whose energy is not the user's to pay
	// (a boot that failed through the node or the controller): statements
	// show it apart and do not charge it. CreditReason says why.
	Credited     bool
	CreditReason string
	// Meter names where the energy came from: bmc-sdr, dcmi,
	// redfish-counter, redfish-watts, rapl-inband or model (Meter*).
	Meter string
	// SelfReported is set on energy the node itself reported (in-band
	// RAPL): a job is root on its node, so it is billed at least
	// FloorJoules, the kind's idle floor over the phase. Implausible is
	// set when the counter cannot be right (frozen, or back without a
	// wrap): the phase is billed from the floor.
	SelfReported bool
	Implausible  bool
	FloorJoules  float64
}

// EntryPiece is the part of an entry priced under one tariff.
type EntryPiece struct {
	Tariff      string
	PricePerKWh float64
	From, To    time.Time
	Joules      float64
	Cost        float64
}

// BootUsage is everything one boot's bill is computed from.
type BootUsage struct {
	Facts  Facts
	Events []job.Event // the job's event log; its latest boot is billed
	End    time.Time   // the transition that ends the boot, or now
	// Samples are the boot's readings in time order; Options integrate
	// them (the counter's wrap included).
	Samples []Sample
	Options Options
	// RAPL says the counter readings are the node agent's RAPL counter:
	// self-reported, billed at least FloorWatts (the kind's idle floor)
	// over each phase.
	RAPL       bool
	FloorWatts float64
	// Meter names the out-of-band meter of the node (Meter*); RAPL bills
	// name MeterRAPL.
	Meter string
	// Tariffs price the energy; nil bills joules at no cost.
	Tariffs *Tariffs
	// Carbon gives the grams of CO2e of the energy; nil gives none.
	Carbon *Carbon
	Now    time.Time // stamped on the entries as Recorded
}

// Bill is one boot's ledger entries and the phase edges they cover.
type Bill struct {
	Entries []Entry
	Phases  Phases
}

// BillBoot integrates and prices one boot of a job, phase by phase. The
// policy it applies:
//   - the boot phase is always billed; run and power-off only when the boot
//     got there (a failed boot was all booting; a cancel while booting goes
//     from boot to off), so a failed or interrupted boot is billed to its job;
//   - energy that cannot be computed is billed as an estimated 0 J with the
//     reason, never dropped silently;
//   - counter phases of an in-band RAPL counter are named MethodRAPL, are
//     self-reported, and bill at least the kind's idle floor (floor).
func BillBoot(u BootUsage) Bill {
	ph, ran, offPhase := PhasesOf(u.Events, u.End)
	var problem string
	res, err := IntegratePhases(u.Samples, ph, u.Options)
	if err != nil {
		problem = fmt.Sprintf("energy could not be computed: %v; billed 0 J", err)
		res = PhaseResult{}
	}
	phases := []Phase{Boot}
	if ran {
		phases = append(phases, Run)
	}
	if offPhase {
		phases = append(phases, Off)
	}
	out := Bill{Phases: ph}
	for _, p := range phases {
		from, upto, _ := ph.Window(p)
		r := res.Phase(p)
		e := Entry{
			Facts: u.Facts, Phase: p, Start: from, End: upto, Recorded: u.Now,
			Joules: r.Joules, Duration: upto.Sub(from).Seconds(), Samples: r.Samples, Coverage: r.Coverage,
			Method: r.Method, Estimated: r.Estimated, Reasons: r.Reasons, Meter: u.Meter,
		}
		if u.RAPL && r.Method == MethodCounter {
			e.Method = MethodRAPL
		}
		samples := u.Samples
		if u.RAPL {
			e.Meter = MeterRAPL
		}
		if problem != "" {
			e.Estimated, e.Reasons, e.Method = true, []string{problem}, MethodNone
		}
		if u.RAPL {
			samples = floor(&e, u)
		}
		if problem == "" || e.Joules > 0 {
			if u.Tariffs != nil {
				price(&e, u, samples)
			}
			if u.Carbon != nil {
				weigh(&e, u, samples)
			}
		}
		out.Entries = append(out.Entries, e)
	}
	return out
}

// price fills an entry's cost from the tariffs in force over its phase.
func price(e *Entry, u BootUsage, samples []Sample) {
	cost, pieces, err := u.Tariffs.Price(samples, e.Start, e.End, u.Options)
	if err != nil {
		e.Estimated = true
		e.Reasons = append(e.Reasons, fmt.Sprintf("could not be priced: %v", err))
	}
	e.Cost, e.Currency = cost, u.Tariffs.Currency()
	var names []string
	for _, pc := range pieces {
		e.Pieces = append(e.Pieces, EntryPiece{Tariff: pc.Tariff, PricePerKWh: pc.PricePerKWh, From: pc.From, To: pc.To, Joules: pc.Energy.Joules, Cost: pc.Cost})
		if len(names) == 0 || names[len(names)-1] != pc.Tariff {
			names = append(names, pc.Tariff)
		}
	}
	e.Tariff = strings.Join(names, "+")
}

// weigh fills an entry's grams of CO2e from the carbon intensity over its
// phase.
func weigh(e *Entry, u BootUsage, samples []Sample) {
	g, unk, err := u.Carbon.Grams(func(a, b time.Time) (Result, error) {
		return Integrate(samples, a, b, u.Options)
	}, e.Start, e.End)
	if err != nil {
		e.Reasons = append(e.Reasons, fmt.Sprintf("carbon not computed: %v", err))
		return
	}
	e.CarbonGrams, e.CarbonUnknownJ = g, unk
}

// phaseOrder sorts a boot's phases as they happen.
var phaseOrder = map[Phase]int{Boot: 1, Run: 2, Off: 3}

// CompareEntries orders entries as the ledger does: by job, boot, then
// phase in the order they happen.
func CompareEntries(a, b *Entry) int {
	return cmp.Or(cmp.Compare(a.Job, b.Job), cmp.Compare(a.Boot, b.Boot), cmp.Compare(phaseOrder[a.Phase], phaseOrder[b.Phase]))
}

// CurvePoints bounds a stored power curve: enough to draw, small to keep.
const CurvePoints = 240

// PowerCurve down-samples a boot's readings to at most CurvePoints, keeping
// their energy. Readings that cannot be down-sampled give no curve.
func PowerCurve(samples []Sample, opt Options) []Sample {
	c, err := Downsample(samples, CurvePoints, opt)
	if err != nil {
		return nil
	}
	return c
}
