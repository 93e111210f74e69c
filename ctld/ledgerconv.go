package ctld

import (
	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/store"
)

// A ledger entry has three shapes: accounting computes an accounting.Entry,
// the store keeps a store.LedgerEntry, users read an api.LedgerEntry. The
// controller, which sits between all three, converts; none of the three
// packages knows another's shape.

func storeEntry(e *accounting.Entry) *store.LedgerEntry {
	out := &store.LedgerEntry{
		Job: e.Job, Boot: e.Boot, Phase: string(e.Phase), JobID: e.JobID, Name: e.Name, User: e.User,
		Account: e.Account, Node: e.Node, Arch: e.Arch, Kind: e.Kind, Image: e.Image, ImageDigest: e.ImageDigest,
		Kernel: e.Kernel, Command: e.Command, Simulated: e.Simulated, State: e.State,
		Start: e.Start, End: e.End, Joules: e.Joules, Duration: e.Duration, Samples: e.Samples, Coverage: e.Coverage,
		Method: string(e.Method), Tariff: e.Tariff, Currency: e.Currency, Cost: e.Cost,
		Estimated: e.Estimated, Reasons: e.Reasons, Recorded: e.Recorded,
		CarbonGrams: e.CarbonGrams, CarbonUnknownJ: e.CarbonUnknownJ, Credited: e.Credited, CreditReason: e.CreditReason,
		Meter: e.Meter, SelfReported: e.SelfReported, Implausible: e.Implausible, FloorJoules: e.FloorJoules,
	}
	for _, p := range e.Pieces {
		out.Pieces = append(out.Pieces, store.LedgerPiece(p))
	}
	return out
}

func entryFromStore(e *store.LedgerEntry) accounting.Entry {
	out := accounting.Entry{
		Facts: accounting.Facts{
			Job: e.Job, JobID: e.JobID, Boot: e.Boot, Name: e.Name, User: e.User, Account: e.Account, Node: e.Node,
			Arch: e.Arch, Kind: e.Kind, Image: e.Image, ImageDigest: e.ImageDigest, Kernel: e.Kernel,
			Command: e.Command, Simulated: e.Simulated, State: e.State,
		},
		Phase: accounting.Phase(e.Phase), Start: e.Start, End: e.End, Joules: e.Joules, Duration: e.Duration,
		Samples: e.Samples, Coverage: e.Coverage, Method: accounting.Method(e.Method), Tariff: e.Tariff,
		Currency: e.Currency, Cost: e.Cost, Estimated: e.Estimated, Reasons: e.Reasons, Recorded: e.Recorded,
		CarbonGrams: e.CarbonGrams, CarbonUnknownJ: e.CarbonUnknownJ, Credited: e.Credited, CreditReason: e.CreditReason,
		Meter: e.Meter, SelfReported: e.SelfReported, Implausible: e.Implausible, FloorJoules: e.FloorJoules,
	}
	for _, p := range e.Pieces {
		out.Pieces = append(out.Pieces, accounting.EntryPiece(p))
	}
	return out
}

func apiEntry(e *accounting.Entry, live bool) api.LedgerEntry {
	out := api.LedgerEntry{
		Job: e.Job, JobID: e.JobID, Boot: e.Boot, Phase: string(e.Phase), Name: e.Name, User: e.User,
		Account: e.Account, Node: e.Node, Arch: e.Arch, Kind: e.Kind, Image: e.Image, ImageDigest: e.ImageDigest,
		Kernel: e.Kernel, Command: e.Command, State: e.State, Start: e.Start, End: e.End, Joules: e.Joules,
		Duration: e.Duration, Samples: e.Samples, Coverage: e.Coverage, Method: string(e.Method), Tariff: e.Tariff,
		Currency: e.Currency, Cost: e.Cost, EnergyEstimated: e.Estimated, Reasons: e.Reasons,
		Simulated: e.Simulated, Recorded: e.Recorded, Live: live,
		CarbonGrams: e.CarbonGrams, Credited: e.Credited, CreditReason: e.CreditReason,
		Meter: e.Meter, SelfReported: e.SelfReported, Implausible: e.Implausible, FloorJoules: e.FloorJoules,
	}
	for _, p := range e.Pieces {
		out.Pieces = append(out.Pieces, api.Piece(p))
	}
	return out
}

// acctJob is a job's summed bill as users read it; state is the job's
// state now, when it is known.
func acctJob(s accounting.JobSum, state job.State) api.AcctJob {
	if state == "" {
		state = s.State
	}
	return api.AcctJob{
		ID: s.Job, JobID: s.JobID, Name: s.Name, User: s.User, Account: s.Account, State: state, Node: s.Node,
		Arch: s.Arch, Kind: s.Kind, Image: s.Image, ImageDigest: s.ImageDigest, Kernel: s.Kernel, Command: s.Command,
		Boots: s.Boots, Start: s.Start, End: s.End, Elapsed: s.Elapsed, RunSeconds: s.RunSeconds,
		EnergyJoules: s.Joules, BootJoules: s.BootJoules, RunJoules: s.RunJoules, OffJoules: s.OffJoules,
		Cost: s.Cost, Currency: s.Currency, EnergyEstimated: s.Estimated, Reasons: s.Reasons, Simulated: s.Simulated,
		CarbonGrams: s.CarbonGrams, Meter: s.Meter, SelfReported: s.SelfReported, Implausible: s.Implausible,
		CreditedJoules: s.CreditedJoules, CreditedCost: s.CreditedCost, CreditReasons: s.CreditReasons,
	}
}

func storeCurve(j *job.Job, ph accounting.Phases, points []accounting.Sample) *store.Curve {
	return &store.Curve{
		Job: j.ID, Boot: j.Boot, Node: j.Node, PowerOn: ph.PowerOn, RunStart: ph.RunStart, RunEnd: ph.RunEnd,
		Off: ph.OffConfirmed, Points: storeSamples(points),
	}
}

func apiCurve(boot uint64, node string, ph accounting.Phases, s []accounting.Sample) api.CurveBoot {
	b := api.CurveBoot{Boot: boot, Node: node, PowerOn: ph.PowerOn, RunStart: ph.RunStart, RunEnd: ph.RunEnd, Off: ph.OffConfirmed}
	for _, x := range s {
		b.Points = append(b.Points, api.CurvePoint{Time: x.Time, Watts: x.Watts})
	}
	return b
}

func storedCurve(cv *store.Curve) api.CurveBoot {
	ph := accounting.Phases{PowerOn: cv.PowerOn, RunStart: cv.RunStart, RunEnd: cv.RunEnd, OffConfirmed: cv.Off}
	return apiCurve(cv.Boot, cv.Node, ph, accountingSamples(cv.Points))
}

func storeSamples(s []accounting.Sample) []store.Sample {
	out := make([]store.Sample, len(s))
	for i, x := range s {
		out[i] = store.Sample(x)
	}
	return out
}

func accountingSamples(s []store.Sample) []accounting.Sample {
	out := make([]accounting.Sample, len(s))
	for i, x := range s {
		out[i] = accounting.Sample(x)
	}
	return out
}
