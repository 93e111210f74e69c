package accounting

import (
	"math"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
)

func TestBetween(t *testing.T) {
	gap := 5 * time.Second
	for _, tc := range []struct {
		name string
		a, b Sample
		want float64
		est  bool
	}{
		{"counter", Sample{Time: at(0), Watts: 1, Joules: 100, Counter: true}, Sample{Time: at(10), Watts: 1, Joules: 350, Counter: true}, 250, false},
		{"counter after a long gap is still exact", Sample{Time: at(0), Joules: 100, Counter: true}, Sample{Time: at(100), Joules: 900, Counter: true}, 800, false},
		{"counter went back: trapezoid of watts", Sample{Time: at(0), Watts: 10, Joules: 100, Counter: true}, Sample{Time: at(2), Watts: 30, Joules: 5, Counter: true}, 40, false},
		{"watts", Sample{Time: at(0), Watts: 100}, Sample{Time: at(2), Watts: 200}, 300, false},
		{"watts across a gap: estimated", Sample{Time: at(0), Watts: 100}, Sample{Time: at(10), Watts: 100}, 1000, true},
		{"same time", Sample{Time: at(3), Watts: 100}, Sample{Time: at(3), Watts: 100}, 0, false},
	} {
		got, est := Between(tc.a, tc.b, gap)
		if math.Abs(got-tc.want) > 1e-9 || est != tc.est {
			t.Errorf("%s: %.3f J estimated %v, want %.3f J %v", tc.name, got, est, tc.want, tc.est)
		}
	}
}

func TestMeteredBetween(t *testing.T) {
	pts := []MeterPoint{{at(0), 1000}, {at(10), 2000}, {at(20), 2500}}
	for _, tc := range []struct {
		from, to float64
		want     float64
	}{
		{0, 20, 1500}, {5, 15, 500 + 250}, {-10, 0, 0}, {20, 30, 0}, {-5, 25, 1500}, {10, 10, 0},
	} {
		if got := MeteredBetween(pts, at(tc.from), at(tc.to)); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("[%g, %g): %.1f J, want %.1f", tc.from, tc.to, got, tc.want)
		}
	}
	if got := MeteredBetween(nil, at(0), at(1)); got != 0 {
		t.Errorf("no points: %g J", got)
	}
}

func TestBuildBalance(t *testing.T) {
	pts := []MeterPoint{{at(0), 0}, {at(100), 10000}}
	entries := []Entry{
		{Facts: Facts{Node: "n1"}, Phase: Boot, Start: at(10), End: at(20), Joules: 1000, Meter: MeterDCMI},
		{Facts: Facts{Node: "n1"}, Phase: Run, Start: at(20), End: at(60), Joules: 5000, Meter: MeterDCMI},
		{Facts: Facts{Node: "n1"}, Phase: Boot, Start: at(60), End: at(70), Joules: 800, Credited: true, CreditReason: ReasonAbortedBoot},
		{Facts: Facts{Node: "n2"}, Phase: Run, Start: at(20), End: at(60), Joules: 9999},
		{Facts: Facts{Node: "n1"}, Phase: Run, Start: at(70), End: at(80), Joules: 1, SelfReported: true},
	}
	stretches := []Stretch{
		{Node: "n1", Start: at(0), End: at(10), Reason: ReasonStandby, Joules: 100},
		{Node: "n1", Start: at(70), End: at(90), Reason: ReasonPowerOffFailed, Joules: 2000, Meter: MeterDCMI},
		{Node: "n1", Start: at(90), End: at(110), Reason: ReasonStandby, Joules: 200},
		{Node: "n2", Start: at(0), End: at(100), Reason: ReasonIdleOn, Joules: 7777},
	}
	b := BuildBalance("n1", at(0), at(100), entries, stretches, pts)
	if b.Billed != 6000 || b.Unbilled[ReasonAbortedBoot] != 800 || b.Unbilled[ReasonPowerOffFailed] != 2000 || b.Standby != 200 {
		t.Fatalf("balance %s", b)
	}
	if b.Metered != 10000 || math.Abs(b.Residual-(10000-6000-2800-200)) > 1e-9 || b.Meter != MeterDCMI {
		t.Errorf("balance %s (meter %q)", b, b.Meter)
	}
	// A period that cuts stretches counts them pro rata.
	b = BuildBalance("n1", at(50), at(100), entries, stretches, pts)
	if math.Abs(b.Billed-1250) > 1e-9 || math.Abs(b.Standby-100) > 1e-9 || b.Metered != 5000 {
		t.Errorf("cut balance %s", b)
	}
}

func TestFailurePolicyCredit(t *testing.T) {
	for _, tc := range []struct {
		p      FailurePolicy
		to     job.State
		reason job.Reason
		fault  bool
		want   string
	}{
		{FailuresCluster, job.NodeFail, "", false, ReasonNodeFail},
		{FailuresCluster, job.Pending, job.ReasonNodeFailRequeue, false, ReasonNodeFail},
		{FailuresCluster, job.BootFail, "", true, ReasonBootFail},
		{FailuresCluster, job.Pending, job.ReasonBootRetry, true, ReasonBootFail},
		{FailuresCluster, job.Pending, job.ReasonBootAborted, false, ReasonAbortedBoot},
		// The job's own faults stay billed.
		{FailuresCluster, job.BootFail, "", false, ""},
		{FailuresCluster, job.Pending, job.ReasonBootRetry, false, ""},
		{FailuresCluster, job.Failed, "", false, ""},
		{FailuresCluster, job.Timeout, "", false, ""},
		{FailuresCluster, job.Completed, "", true, ""},
		{FailuresCluster, job.Cancelled, "", false, ""},
		{FailuresUser, job.NodeFail, "", true, ""},
		{FailuresUser, job.Pending, job.ReasonBootAborted, false, ""},
	} {
		if got := tc.p.Credit(tc.to, tc.reason, tc.fault); got != tc.want {
			t.Errorf("%s: %s %s fault=%v: credit %q, want %q", tc.p, tc.to, tc.reason, tc.fault, got, tc.want)
		}
	}
	for in, want := range map[string]FailurePolicy{"": FailuresCluster, "cluster": FailuresCluster, "user": FailuresUser} {
		if got, err := ParseFailurePolicy(in); err != nil || got != want {
			t.Errorf("ParseFailurePolicy(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFailurePolicy("nobody"); err == nil {
		t.Error("an unknown failure policy was accepted")
	}
}

func TestCounterImplausible(t *testing.T) {
	c := func(x, j float64) Sample { return Sample{Time: at(x), Joules: j, Counter: true} }
	for _, tc := range []struct {
		name string
		s    []Sample
		max  float64
		bad  bool
	}{
		{"moving", []Sample{c(0, 0), c(1, 10), c(2, 25), c(3, 26)}, 0, false},
		{"frozen 3 s", []Sample{c(0, 5), c(1, 5), c(2, 5), c(3, 5)}, 0, true},
		{"still 2 s then moves", []Sample{c(0, 5), c(1, 5), c(2, 5), c(3, 6), c(4, 6), c(5, 7)}, 0, false},
		{"back without a wrap", []Sample{c(0, 50), c(1, 60), c(2, 10)}, 0, true},
		{"back with a wrap", []Sample{c(0, 50), c(1, 60), c(2, 10)}, 64, false},
		{"one reading", []Sample{c(0, 5)}, 0, false},
	} {
		if got := CounterImplausible(tc.s, at(0), at(10), tc.max); (got != "") != tc.bad {
			t.Errorf("%s: %q, want implausible=%v", tc.name, got, tc.bad)
		}
	}
}

// TestBillBootFloorsSelfReportedEnergy: a forged in-band counter that never
// moves is billed the idle floor and flagged; an honest one that reads
// below the floor is raised to it; one above it is left alone.
func TestBillBootFloorsSelfReportedEnergy(t *testing.T) {
	evs := events(0, job.PoweringOn, 5, job.Running, 25, job.PoweringOff)
	c := func(x, j float64) Sample { return Sample{Time: at(x), Joules: j, Counter: true} }
	var frozen, low, honest []Sample
	for x := 0; x <= 27; x++ {
		frozen = append(frozen, c(float64(x), 42))
		low = append(low, c(float64(x), float64(x)*10))
		honest = append(honest, c(float64(x), float64(x)*100))
	}
	for _, tc := range []struct {
		name        string
		s           []Sample
		run         float64
		implausible bool
		estimated   bool
	}{
		{"frozen", frozen, 60 * 20, true, true},
		{"below the floor", low, 60 * 20, false, true},
		{"above the floor", honest, 100 * 20, false, false},
	} {
		b := BillBoot(BootUsage{Facts: Facts{Node: "n1"}, Events: evs, End: at(27), Samples: tc.s, RAPL: true, FloorWatts: 60, Meter: MeterDCMI})
		run := b.Entries[1]
		if run.Phase != Run || math.Abs(run.Joules-tc.run) > 1e-6 || run.Implausible != tc.implausible || run.Estimated != tc.estimated {
			t.Errorf("%s: run %s implausible=%v reasons %q; want %.0f J implausible=%v estimated=%v", tc.name, line(run), run.Implausible, run.Reasons, tc.run, tc.implausible, tc.estimated)
		}
		for _, e := range b.Entries {
			if !e.SelfReported || e.Meter != MeterRAPL || e.Joules < e.FloorJoules-1e-9 {
				t.Errorf("%s: %s meter %q self_reported=%v below its floor %.1f", tc.name, line(e), e.Meter, e.SelfReported, e.FloorJoules)
			}
		}
	}
}

// TestBillBootFloorsAColdStartsFirstReading: after a cold power-on the
// controller puts the counter at 0 at the boot's start, so the agent's
// first reading bills the boot. One that claims less than the idle floor
// still bills the floor; one that claims 0 (stood still since power-on)
// is implausible.
func TestBillBootFloorsAColdStartsFirstReading(t *testing.T) {
	evs := events(0, job.PoweringOn, 5, job.Running, 25, job.PoweringOff)
	c := func(x, j float64) Sample { return Sample{Time: at(x), Joules: j, Counter: true} }
	for _, tc := range []struct {
		name        string
		first       float64 // the reading at 4 s, the agent's Ready
		boot        float64
		implausible bool
		estimated   bool
	}{
		{"honest", 400, 500, false, false},
		{"below the floor", 10, 60 * 5, false, true},
		{"zero", 0, 60 * 5, true, true},
	} {
		s := []Sample{c(0, 0)}
		for x := 4; x <= 27; x++ {
			s = append(s, c(float64(x), tc.first+100*float64(x-4)))
		}
		b := BillBoot(BootUsage{Facts: Facts{Node: "n1"}, Events: evs, End: at(27), Samples: s, RAPL: true, FloorWatts: 60})
		boot := b.Entries[0]
		if boot.Phase != Boot || math.Abs(boot.Joules-tc.boot) > 1e-6 || boot.Implausible != tc.implausible || boot.Estimated != tc.estimated {
			t.Errorf("%s: boot %s implausible=%v reasons %q; want %.0f J implausible=%v estimated=%v",
				tc.name, line(boot), boot.Implausible, boot.Reasons, tc.boot, tc.implausible, tc.estimated)
		}
	}
}
