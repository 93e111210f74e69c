package accounting

import (
	"errors"
	"reflect"
	"testing"
)

// billed is the CLI's acct.json fixture as accounting sees it.
var billed = []JobUsage{
	{JobID: "1", User: "alice", Account: "physics", Completed: true, Arch: "x86_64", Kind: "sim-x86", Image: "oci:fft", Command: "fft --size 4096",
		Elapsed: 23.25, RunSeconds: 20, EnergyJoules: 5292.5, BootJoules: 292.5, RunJoules: 5000, Cost: 0.000441},
	{JobID: "2", User: "alice", Account: "physics", Completed: true, Arch: "aarch64", Kind: "sim-arm", Image: "oci:fft", Command: "fft --size 4096",
		Elapsed: 32.5, RunSeconds: 30, EnergyJoules: 2162.5, BootJoules: 62.5, RunJoules: 2100, Cost: 0.00018},
	{JobID: "3", User: "bob", Account: "chemistry", Completed: true, Arch: "aarch64", Kind: "sim-arm", Image: "oci:fft", Command: "fft --size 4096",
		Elapsed: 34.5, RunSeconds: 32, EnergyJoules: 2302.5, BootJoules: 62.5, RunJoules: 2240, Cost: 0.000192, EnergyEstimated: true},
	{JobID: "4_0", User: "bob", Arch: "x86_64", Kind: "sim-x86", Image: "oci:busybox", Command: "sleep 60",
		Elapsed: 120, EnergyJoules: 10800, BootJoules: 10800, Cost: 0.0009},
}

func TestSumJobs(t *testing.T) {
	for _, tc := range []struct {
		name string
		jobs []JobUsage
		want Totals
	}{
		{"none", nil, Totals{}},
		{"one", billed[3:], Totals{Jobs: 1, EnergyJoules: 10800, BootJoules: 10800, Elapsed: 120, Cost: 0.0009}},
		{"estimated counted", billed[1:3], Totals{Jobs: 2, EnergyJoules: 4465, BootJoules: 125, RunJoules: 4340, Elapsed: 67, RunSeconds: 62,
			Cost: billed[1].Cost + billed[2].Cost, Estimated: 1}}, // added at run time, as SumJobs does
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SumJobs(tc.jobs); got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	all := SumJobs(billed)
	if all.EnergyJoules != all.BootJoules+all.RunJoules+all.OffJoules {
		t.Errorf("phases do not add up to the energy: %+v", all)
	}
	if got := SumJobs(billed[:2]).Plus(SumJobs(billed[2:])); got.Jobs != 4 || got.Estimated != 1 || got.EnergyJoules != all.EnergyJoules {
		t.Errorf("Plus: %+v, want %+v", got, all)
	}
}

func TestGroupBy(t *testing.T) {
	for _, tc := range []struct {
		by   string
		want []Group // keys and job counts
	}{
		{"account", []Group{{Key: "", Totals: Totals{Jobs: 1}}, {Key: "chemistry", Totals: Totals{Jobs: 1}}, {Key: "physics", Totals: Totals{Jobs: 2}}}},
		{"KIND", []Group{{Key: "sim-arm", Totals: Totals{Jobs: 2}}, {Key: "sim-x86", Totals: Totals{Jobs: 2}}}},
		{"arch", []Group{{Key: "aarch64", Totals: Totals{Jobs: 2}}, {Key: "x86_64", Totals: Totals{Jobs: 2}}}},
		{"image", []Group{{Key: "oci:busybox", Totals: Totals{Jobs: 1}}, {Key: "oci:fft", Totals: Totals{Jobs: 3}}}},
		{"user", []Group{{Key: "alice", Totals: Totals{Jobs: 2}}, {Key: "bob", Totals: Totals{Jobs: 2}}}},
	} {
		t.Run(tc.by, func(t *testing.T) {
			got, err := GroupBy(billed, tc.by)
			if err != nil {
				t.Fatal(err)
			}
			var sum Totals
			for i, g := range got {
				if i >= len(tc.want) || g.Key != tc.want[i].Key || g.Jobs != tc.want[i].Jobs {
					t.Fatalf("groups %+v, want keys and counts %+v", got, tc.want)
				}
				sum = sum.Plus(g.Totals)
			}
			if len(got) != len(tc.want) || sum.Jobs != len(billed) || sum.Estimated != 1 {
				t.Errorf("groups %+v do not cover the jobs once", got)
			}
		})
	}
	phys, _ := GroupBy(billed, "account")
	if want := (Group{Key: "physics", Totals: SumJobs(billed[:2])}); !reflect.DeepEqual(phys[2], want) {
		t.Errorf("physics: %+v, want %+v", phys[2], want)
	}
	if _, err := GroupBy(billed, "colour"); !errors.Is(err, ErrGroupKey) {
		t.Errorf("by colour: %v", err)
	}
}
