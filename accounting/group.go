package accounting

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Totals sums a set of billed jobs.
type Totals struct {
	Jobs         int     `json:"jobs"`
	EnergyJoules float64 `json:"energy_joules"`
	BootJoules   float64 `json:"boot_joules"`
	RunJoules    float64 `json:"run_joules"`
	OffJoules    float64 `json:"off_joules"`
	Elapsed      float64 `json:"elapsed_seconds"`
	RunSeconds   float64 `json:"run_seconds"`
	Cost         float64 `json:"cost"`
	Estimated    int     `json:"energy_estimated_jobs"`
}

// SumJobs adds up jobs, in their order.
func SumJobs(jobs []JobUsage) Totals {
	var t Totals
	for i := range jobs {
		t = t.Plus(jobs[i].Totals())
	}
	return t
}

// Totals are one job's figures, as a sum of one.
func (j *JobUsage) Totals() Totals {
	t := Totals{Jobs: 1, EnergyJoules: j.EnergyJoules, BootJoules: j.BootJoules, RunJoules: j.RunJoules, OffJoules: j.OffJoules,
		Elapsed: j.Elapsed, RunSeconds: j.RunSeconds, Cost: j.Cost}
	if j.EnergyEstimated {
		t.Estimated = 1
	}
	return t
}

// Plus returns t and o added up.
func (t Totals) Plus(o Totals) Totals {
	t.Jobs += o.Jobs
	t.Elapsed += o.Elapsed
	t.RunSeconds += o.RunSeconds
	t.BootJoules += o.BootJoules
	t.RunJoules += o.RunJoules
	t.OffJoules += o.OffJoules
	t.EnergyJoules += o.EnergyJoules
	t.Cost += o.Cost
	t.Estimated += o.Estimated
	return t
}

// Group is the sum of the jobs that share one key.
type Group struct {
	Key string `json:"key"`
	Totals
}

// GroupKeys are what Group can sum by.
var GroupKeys = []string{"arch", "kind", "image", "user", "meter", "account"}

// ErrGroupKey is returned for a key not in GroupKeys.
var ErrGroupKey = errors.New("cannot group by this key")

func groupKey(by string) func(j *JobUsage) string {
	switch strings.ToLower(by) {
	case "arch":
		return func(j *JobUsage) string { return j.Arch }
	case "kind":
		return func(j *JobUsage) string { return j.Kind }
	case "image":
		return func(j *JobUsage) string { return j.Image }
	case "user":
		return func(j *JobUsage) string { return j.User }
	case "account":
		return func(j *JobUsage) string { return j.Account }
	case "meter":
		return func(j *JobUsage) string { return j.Meter }
	}
	return nil
}

// GroupBy sums jobs per arch, kind, image, user, meter or account (by, in any
// case), sorted by key. Each group's jobs are summed in their input order.
func GroupBy(jobs []JobUsage, by string) ([]Group, error) {
	key := groupKey(by)
	if key == nil {
		return nil, fmt.Errorf("%w %q: want %s", ErrGroupKey, by, strings.Join(GroupKeys, ", "))
	}
	members := map[string][]JobUsage{}
	var keys []string
	for i := range jobs {
		k := key(&jobs[i])
		if _, ok := members[k]; !ok {
			keys = append(keys, k)
		}
		members[k] = append(members[k], jobs[i])
	}
	slices.SortFunc(keys, cmp.Compare)
	groups := make([]Group, len(keys))
	for i, k := range keys {
		groups[i] = Group{Key: k, Totals: SumJobs(members[k])}
	}
	return groups, nil
}
