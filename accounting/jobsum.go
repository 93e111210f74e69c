package accounting

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/job"
)

// JobSum is one job's bill: its entries over every boot, summed.
type JobSum struct {
	// Facts are the last entry's: the node, kind and state of the last boot.
	Facts
	Currency   string
	Boots      int
	Start, End time.Time // first power on, last power off confirmed
	Elapsed    float64   // seconds from Start to End
	RunSeconds float64
	Joules     float64 // Boot + Run + Off
	BootJoules float64
	RunJoules  float64
	OffJoules  float64
	Cost       float64
	// CarbonGrams is the CO2e of all entries (0 without a carbon schedule).
	CarbonGrams float64
	// Estimated is set when any entry is; Reasons name each one's boot
	// and phase.
	Estimated bool
	Reasons   []string
	// Meter is the entries' meters, "+"-joined in order when they differ.
	Meter                     string
	SelfReported, Implausible bool
	// CreditedJoules and CreditedCost are the credited entries' (the
	// cluster pays them); Cost leaves them out. CreditReasons lists why.
	CreditedJoules float64
	CreditedCost   float64
	CreditReasons  []string
}

// SumJob adds up one job's entries, given in ledger order (CompareEntries).
// It returns the zero JobSum for no entries.
func SumJob(es []Entry) JobSum {
	if len(es) == 0 {
		return JobSum{}
	}
	last := es[len(es)-1]
	j := JobSum{Facts: last.Facts, Currency: last.Currency, Start: es[0].Start, End: last.End}
	boots := map[uint64]bool{}
	for _, e := range es {
		boots[e.Boot] = true
		j.Joules += e.Joules
		if e.Credited {
			j.CreditedJoules += e.Joules
			j.CreditedCost += e.Cost
			if !slices.Contains(j.CreditReasons, e.CreditReason) {
				j.CreditReasons = append(j.CreditReasons, e.CreditReason)
			}
		} else {
			j.Cost += e.Cost
		}
		if e.Meter != "" && !slices.Contains(strings.Split(j.Meter, "+"), e.Meter) {
			j.Meter = strings.TrimPrefix(j.Meter+"+"+e.Meter, "+")
		}
		j.SelfReported = j.SelfReported || e.SelfReported
		j.Implausible = j.Implausible || e.Implausible
		j.CarbonGrams += e.CarbonGrams
		switch e.Phase {
		case Boot:
			j.BootJoules += e.Joules
		case Run:
			j.RunJoules += e.Joules
			j.RunSeconds += e.Duration
		case Off:
			j.OffJoules += e.Joules
		}
		if e.Start.Before(j.Start) {
			j.Start = e.Start
		}
		if e.End.After(j.End) {
			j.End = e.End
		}
		if e.Estimated {
			j.Estimated = true
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
	return j
}

// Usage is the job as the reports see it (SumJobs, GroupBy, Compare). A job
// counts as completed when its last boot ended COMPLETED.
func (s JobSum) Usage() JobUsage {
	return JobUsage{
		JobID: s.JobID, User: s.User, Account: s.Account, Completed: s.State == job.Completed, Arch: s.Arch,
		Kind: s.Kind, Image: s.Image, Command: s.Command, Meter: s.Meter, Elapsed: s.Elapsed, RunSeconds: s.RunSeconds,
		EnergyJoules: s.Joules, BootJoules: s.BootJoules, RunJoules: s.RunJoules, OffJoules: s.OffJoules,
		Cost: s.Cost, EnergyEstimated: s.Estimated,
	}
}
