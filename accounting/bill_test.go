package accounting

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
)

// constWatts is a 100 W machine read every second from..to, as watts or as
// a counter starting at 5000 J.
func constWatts(from, to int, counter bool) []Sample {
	var s []Sample
	for x := from; x <= to; x++ {
		if counter {
			s = append(s, Sample{Time: at(float64(x)), Watts: 100, Joules: 5000 + 100*float64(x), Counter: true})
		} else {
			s = append(s, Sample{Time: at(float64(x)), Watts: 100})
		}
	}
	return s
}

// raplFrom is a 100 W package read every second from..to, its counter at
// j0 joules at from.
func raplFrom(from, to int, j0 float64) []Sample {
	var s []Sample
	for x := from; x <= to; x++ {
		s = append(s, Sample{Time: at(float64(x)), Joules: j0 + 100*float64(x-from), Counter: true})
	}
	return s
}

func events(edges ...any) []job.Event {
	var out []job.Event
	for i := 0; i < len(edges); i += 2 {
		out = append(out, job.Event{Time: at(float64(edges[i].(int))), State: edges[i+1].(job.State)})
	}
	return out
}

// line is an entry in one line: phase, window in seconds from base,
// joules, method, estimated.
func line(e Entry) string {
	return fmt.Sprintf("%s %g-%g %.1fJ %s est=%v", e.Phase, e.Start.Sub(base).Seconds(), e.End.Sub(base).Seconds(), e.Joules, e.Method, e.Estimated)
}

func TestBillBoot(t *testing.T) {
	facts := Facts{Job: 7, JobID: "7", Boot: 2, User: "ann", Node: "n1", Kind: "k", State: job.Completed}
	now := at(100)
	for _, tc := range []struct {
		name    string
		events  []job.Event
		end     int
		samples []Sample
		rapl    bool
		want    []string
		reason  string // in every estimated entry
	}{
		{"completed, watts", events(0, job.Allocated, 2, job.PoweringOn, 3, job.Booting, 10, job.Running, 40, job.PoweringOff), 42,
			constWatts(0, 45, false), false,
			[]string{"boot 2-10 800.0J watts est=false", "run 10-40 3000.0J watts est=false", "off 40-42 200.0J watts est=false"}, ""},
		{"completed, a BMC counter", events(2, job.PoweringOn, 10, job.Running, 40, job.PoweringOff), 42,
			constWatts(0, 45, true), false,
			[]string{"boot 2-10 800.0J counter est=false", "run 10-40 3000.0J counter est=false", "off 40-42 200.0J counter est=false"}, ""},
		{"the agent's RAPL counter", events(2, job.PoweringOn, 10, job.Running, 40, job.PoweringOff), 42,
			constWatts(0, 45, true), true,
			[]string{"boot 2-10 800.0J rapl est=false", "run 10-40 3000.0J rapl est=false", "off 40-42 200.0J rapl est=false"}, ""},
		{"RAPL from 0 at a cold power-on, first reading at Ready", events(2, job.PoweringOn, 10, job.Running, 40, job.PoweringOff), 42,
			append([]Sample{{Time: at(2), Counter: true}}, raplFrom(9, 45, 700)...), true,
			[]string{"boot 2-10 800.0J rapl est=false", "run 10-40 3000.0J rapl est=false", "off 40-42 200.0J rapl est=false"}, ""},
		{"RAPL, no reading before Ready: the boot extrapolated", events(2, job.PoweringOn, 10, job.Running, 40, job.PoweringOff), 42,
			raplFrom(9, 45, 700), true,
			[]string{"boot 2-10 800.0J rapl est=true", "run 10-40 3000.0J rapl est=false", "off 40-42 200.0J rapl est=false"}, "no power samples in the first"},
		{"RAPL flag, watts readings", events(2, job.PoweringOn, 10, job.Running, 40, job.PoweringOff), 42,
			constWatts(0, 45, false), true,
			[]string{"boot 2-10 800.0J watts est=false", "run 10-40 3000.0J watts est=false", "off 40-42 200.0J watts est=false"}, ""},
		{"failed boot: all booting", events(0, job.PoweringOn, 1, job.Booting), 30,
			constWatts(0, 30, false), false,
			[]string{"boot 0-30 3000.0J watts est=false"}, ""},
		{"cancelled while booting: boot then off", events(0, job.PoweringOn, 1, job.Booting, 8, job.PoweringOff), 9,
			constWatts(0, 9, false), false,
			[]string{"boot 0-8 800.0J watts est=false", "off 8-9 100.0J watts est=false"}, ""},
		{"second boot after a requeue bills the latest", events(0, job.PoweringOn, 2, job.Running, 5, job.PoweringOff, 6, job.Pending, 20, job.PoweringOn, 25, job.Running, 30, job.PoweringOff), 31,
			constWatts(19, 31, false), false,
			[]string{"boot 20-25 500.0J watts est=false", "run 25-30 500.0J watts est=false", "off 30-31 100.0J watts est=false"}, ""},
		{"no readings: estimated, never silent", events(0, job.PoweringOn, 10, job.Running), 20,
			nil, false,
			[]string{"boot 0-10 0.0J none est=true", "run 10-20 0.0J none est=true"}, "no power samples"},
		{"readings out of order: 0 J with the reason", events(0, job.PoweringOn, 10, job.Running, 20, job.PoweringOff), 21,
			[]Sample{{Time: at(5), Watts: 1}, {Time: at(1), Watts: 1}}, false,
			[]string{"boot 0-10 0.0J none est=true", "run 10-20 0.0J none est=true", "off 20-21 0.0J none est=true"}, "energy could not be computed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := BillBoot(BootUsage{Facts: facts, Events: tc.events, End: at(float64(tc.end)), Samples: tc.samples, RAPL: tc.rapl, Now: now})
			var got []string
			for _, e := range b.Entries {
				got = append(got, line(e))
				if e.Facts != facts || !e.Recorded.Equal(now) || e.Duration != e.End.Sub(e.Start).Seconds() {
					t.Errorf("%s: facts %+v recorded %s duration %g", e.Phase, e.Facts, e.Recorded, e.Duration)
				}
				if e.Estimated && !strings.Contains(strings.Join(e.Reasons, ";"), tc.reason) {
					t.Errorf("%s: reasons %q, want one with %q", e.Phase, e.Reasons, tc.reason)
				}
				if e.Cost != 0 || e.Currency != "" || e.Tariff != "" {
					t.Errorf("%s: priced without tariffs: %+v", e.Phase, e)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("entries\n got %q\nwant %q", got, tc.want)
			}
			if err := b.Phases.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// A run across the tariff change is priced in two pieces that add up.
func TestBillBootPricesPieceByPiece(t *testing.T) {
	ts, err := ParseTariffs([]Tariff{{Name: "day", Schedule: "0 7 * * *", PricePerKWh: 0.30}, {Name: "night", Schedule: "0 22 * * *", PricePerKWh: 0.12}}, "EUR", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	// base is 10:00; move the job to 21:59:50 so the run spans 22:00.
	shift := 11*time.Hour + 59*time.Minute + 50*time.Second
	samples := constWatts(0, 45, false)
	for i := range samples {
		samples[i].Time = samples[i].Time.Add(shift)
	}
	evs := events(2, job.PoweringOn, 5, job.Running, 40, job.PoweringOff)
	for i := range evs {
		evs[i].Time = evs[i].Time.Add(shift)
	}
	b := BillBoot(BootUsage{Events: evs, End: at(41).Add(shift), Samples: samples, Tariffs: ts})
	i := slices.IndexFunc(b.Entries, func(e Entry) bool { return e.Phase == Run })
	run := b.Entries[i]
	if run.Tariff != "day+night" || len(run.Pieces) != 2 || run.Currency != "EUR" {
		t.Fatalf("run priced as %q in %d pieces, %q", run.Tariff, len(run.Pieces), run.Currency)
	}
	day, night := run.Pieces[0], run.Pieces[1]
	if day.Joules != 500 || night.Joules != 3000 || !day.To.Equal(night.From) || day.To.Hour() != 22 {
		t.Errorf("pieces %+v", run.Pieces)
	}
	if want := 500/JoulesPerKWh*0.30 + 3000/JoulesPerKWh*0.12; math.Abs(run.Cost-want) > 1e-15 {
		t.Errorf("cost %g, want %g", run.Cost, want)
	}
	if boot := b.Entries[0]; boot.Tariff != "day" || len(boot.Pieces) != 1 {
		t.Errorf("boot priced as %q", boot.Tariff)
	}
}

func TestCompareEntriesIsLedgerOrder(t *testing.T) {
	e := func(id, boot uint64, p Phase) Entry { return Entry{Facts: Facts{Job: id, Boot: boot}, Phase: p} }
	es := []Entry{e(2, 1, Boot), e(1, 2, Off), e(1, 1, Off), e(1, 2, Boot), e(1, 1, Run), e(1, 1, Boot)}
	slices.SortFunc(es, func(a, b Entry) int { return CompareEntries(&a, &b) })
	var got []string
	for _, x := range es {
		got = append(got, fmt.Sprintf("%d/%d/%s", x.Job, x.Boot, x.Phase))
	}
	if want := "1/1/boot 1/1/run 1/1/off 1/2/boot 1/2/off 2/1/boot"; strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}
