package accounting

import (
	"cmp"
	"slices"
	"strings"
)

// CompareRow is one machine kind's record for one application (AppKey) in
// the per-kind advice.
type CompareRow struct {
	Image       string  `json:"image"`
	Command     string  `json:"command"`
	Arch        string  `json:"arch"`
	Kind        string  `json:"kind"`
	Runs        int     `json:"runs"`
	MeanJoules  float64 `json:"mean_joules"`
	MeanRunJ    float64 `json:"mean_run_joules"`
	MeanRunSecs float64 `json:"mean_run_seconds"`
	// EDP is the energy-delay product, MeanJoules × MeanRunSecs: a kind
	// that saves joules by running much longer scores worse here.
	EDP      float64 `json:"edp_joule_seconds"`
	MeanCost float64 `json:"mean_cost"`
	// Relative is MeanJoules over the least of this application's kinds.
	Relative  float64 `json:"relative"`
	Estimated int     `json:"energy_estimated_runs"`
	// CheapestJoules and CheapestMoney mark the application's kind with the
	// least mean joules and the least mean cost (money only when some run
	// was priced; with several kinds, never on a tie with no history to
	// tell them apart).
	CheapestJoules bool `json:"cheapest_joules,omitempty"`
	CheapestMoney  bool `json:"cheapest_money,omitempty"`
}

// AppKey names the application of a job, for the advice and for placing
// arch = "any" jobs: the digest its image reference carries (ref@sha256:…,
// an OCI index's digest, the same on every architecture), else the
// reference, and the command. The ledger's image digest is not used: it is
// the digest of the root filesystem one platform booted, so a
// multi-platform image has one per architecture and could never be
// compared across them.
func AppKey(image, command string) [2]string {
	if _, d, ok := strings.Cut(image, "@"); ok && strings.Contains(d, ":") {
		return [2]string{d, command}
	}
	return [2]string{image, command}
}

// Compare groups completed jobs by application (AppKey), then by machine
// kind, and gives each kind's means and marks. Failed runs are left out:
// their energy says nothing of the application's needs. Rows come per
// application, from the least mean joules to the most.
func Compare(jobs []JobUsage) []CompareRow {
	type key struct {
		app        [2]string
		arch, kind string
	}
	acc := map[key]*CompareRow{}
	var keys []key
	for i := range jobs {
		j := &jobs[i]
		if !j.Completed {
			continue
		}
		k := key{AppKey(j.Image, j.Command), j.Arch, j.Kind}
		r, ok := acc[k]
		if !ok {
			r = &CompareRow{Image: j.Image, Command: j.Command, Arch: j.Arch, Kind: j.Kind}
			acc[k] = r
			keys = append(keys, k)
		}
		r.Runs++
		r.MeanJoules += j.EnergyJoules
		r.MeanRunJ += j.RunJoules
		r.MeanRunSecs += j.RunSeconds
		r.MeanCost += j.Cost
		if j.EnergyEstimated {
			r.Estimated++
		}
	}
	type best struct {
		joules, cost float64
		priced       bool
	}
	bests := map[[2]string]*best{}
	out := make([]CompareRow, 0, len(keys))
	for _, k := range keys {
		r := acc[k]
		n := float64(r.Runs)
		r.MeanJoules /= n
		r.MeanRunJ /= n
		r.MeanRunSecs /= n
		r.MeanCost /= n
		r.EDP = r.MeanJoules * r.MeanRunSecs
		b, ok := bests[k.app]
		if !ok {
			b = &best{joules: r.MeanJoules, cost: r.MeanCost}
			bests[k.app] = b
		}
		b.joules = min(b.joules, r.MeanJoules)
		b.cost = min(b.cost, r.MeanCost)
		b.priced = b.priced || r.MeanCost > 0
		out = append(out, *r)
	}
	for i := range out {
		b := bests[AppKey(out[i].Image, out[i].Command)]
		if b.joules > 0 {
			out[i].Relative = out[i].MeanJoules / b.joules
		}
		out[i].CheapestJoules = out[i].MeanJoules == b.joules
		out[i].CheapestMoney = b.priced && out[i].MeanCost == b.cost
	}
	slices.SortFunc(out, func(a, b CompareRow) int {
		ka, kb := AppKey(a.Image, a.Command), AppKey(b.Image, b.Command)
		return cmp.Or(cmp.Compare(ka[0], kb[0]), cmp.Compare(ka[1], kb[1]),
			cmp.Compare(a.MeanJoules, b.MeanJoules), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}
