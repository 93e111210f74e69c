package accounting

import (
	"math"
	"testing"
)

const (
	appDigest = "sha256:4a5b6c7d8e9f00112233445566778899aabbccddeeff00112233445566778899"
	appOCI    = "oci:app@" + appDigest
	appReg    = "registry.example/app@" + appDigest
)

func TestAppKey(t *testing.T) {
	for _, tc := range []struct {
		image, cmd string
		want       [2]string
	}{
		{appOCI, "run", [2]string{appDigest, "run"}},
		{appReg, "run", [2]string{appDigest, "run"}},
		{"oci:other:v1", "run", [2]string{"oci:other:v1", "run"}},
		{"busybox@latest", "true", [2]string{"busybox@latest", "true"}}, // no algorithm: not a digest
		{"", "", [2]string{"", ""}},
	} {
		if got := AppKey(tc.image, tc.cmd); got != tc.want {
			t.Errorf("AppKey(%q, %q) = %q, want %q", tc.image, tc.cmd, got, tc.want)
		}
	}
}

// Runs of one image digest compare across references and architectures
// (each platform has its own root filesystem digest); a failed run and another
// command or image stay out; the kind cheapest in joules need not be the
// one cheapest in money (its runs fell in a dearer tariff).
func TestCompare(t *testing.T) {
	jobs := []JobUsage{
		{JobID: "10", Completed: true, Arch: "x86_64", Kind: "sim-x86", Image: appOCI, Command: "app run", EnergyJoules: 3000, RunJoules: 2500, RunSeconds: 10, Cost: 0.0003},
		{JobID: "11", Completed: true, Arch: "x86_64", Kind: "sim-x86", Image: appReg, Command: "app run", EnergyJoules: 3200, RunJoules: 2700, RunSeconds: 12, Cost: 0.0001, EnergyEstimated: true},
		{JobID: "12", Completed: true, Arch: "aarch64", Kind: "sim-arm", Image: appOCI, Command: "app run", EnergyJoules: 2000, RunJoules: 1600, RunSeconds: 40, Cost: 0.0006},
		{JobID: "13", Completed: false, Arch: "aarch64", Kind: "sim-arm", Image: appOCI, Command: "app run", EnergyJoules: 100, RunJoules: 50, RunSeconds: 1, Cost: 0.00001},
		{JobID: "14", Completed: true, Arch: "aarch64", Kind: "sim-arm", Image: appOCI, Command: "app check", EnergyJoules: 500, RunJoules: 400, RunSeconds: 5},
		{JobID: "15", Completed: true, Arch: "x86_64", Kind: "sim-x86", Image: "oci:other:v1", Command: "app run", EnergyJoules: 900, RunJoules: 800, RunSeconds: 3},
	}
	// In application order: the key is the digest, or the reference without one.
	want := []CompareRow{
		{Image: "oci:other:v1", Command: "app run", Arch: "x86_64", Kind: "sim-x86", Runs: 1, MeanJoules: 900, MeanRunJ: 800, MeanRunSecs: 3,
			EDP: 2700, Relative: 1, CheapestJoules: true},
		// Unpriced: no money mark.
		{Image: appOCI, Command: "app check", Arch: "aarch64", Kind: "sim-arm", Runs: 1, MeanJoules: 500, MeanRunJ: 400, MeanRunSecs: 5,
			EDP: 2500, Relative: 1, CheapestJoules: true},
		{Image: appOCI, Command: "app run", Arch: "aarch64", Kind: "sim-arm", Runs: 1, MeanJoules: 2000, MeanRunJ: 1600, MeanRunSecs: 40,
			EDP: 80000, MeanCost: 0.0006, Relative: 1, CheapestJoules: true},
		// The first reference seen names the row; the failed run is not a run.
		{Image: appOCI, Command: "app run", Arch: "x86_64", Kind: "sim-x86", Runs: 2, MeanJoules: 3100, MeanRunJ: 2600, MeanRunSecs: 11,
			EDP: 34100, MeanCost: 0.0002, Relative: 1.55, Estimated: 1, CheapestMoney: true},
	}
	if got := Compare(jobs); !rowsClose(got, want) {
		t.Errorf("Compare:\n got %+v\nwant %+v", got, want)
	}
}

// rowsClose compares rows with means equal to a few ulps: a mean is a sum
// divided at run time, which a constant in a test cannot always spell.
func rowsClose(got, want []CompareRow) bool {
	if len(got) != len(want) {
		return false
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*max(math.Abs(a), math.Abs(b)) }
	for i := range got {
		g, w := got[i], want[i]
		if !near(g.MeanJoules, w.MeanJoules) || !near(g.MeanRunJ, w.MeanRunJ) || !near(g.MeanRunSecs, w.MeanRunSecs) ||
			!near(g.EDP, w.EDP) || !near(g.MeanCost, w.MeanCost) || !near(g.Relative, w.Relative) {
			return false
		}
		g.MeanJoules, g.MeanRunJ, g.MeanRunSecs, g.EDP, g.MeanCost, g.Relative = w.MeanJoules, w.MeanRunJ, w.MeanRunSecs, w.EDP, w.MeanCost, w.Relative
		if g != w {
			return false
		}
	}
	return true
}

func TestCompareEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		jobs []JobUsage
		want []CompareRow
	}{
		{"nothing", nil, []CompareRow{}},
		{"only failures", []JobUsage{{Kind: "k", EnergyJoules: 5}}, []CompareRow{}},
		{"zero joules: no ratio, still cheapest", []JobUsage{{Completed: true, Kind: "k"}},
			[]CompareRow{{Kind: "k", Runs: 1, CheapestJoules: true}}},
		{"a tie marks both kinds", []JobUsage{
			{Completed: true, Kind: "b", EnergyJoules: 10, Cost: 1},
			{Completed: true, Kind: "a", EnergyJoules: 10, Cost: 1},
		}, []CompareRow{
			{Kind: "a", Runs: 1, MeanJoules: 10, MeanCost: 1, Relative: 1, CheapestJoules: true, CheapestMoney: true},
			{Kind: "b", Runs: 1, MeanJoules: 10, MeanCost: 1, Relative: 1, CheapestJoules: true, CheapestMoney: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Compare(tc.jobs); !rowsClose(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
