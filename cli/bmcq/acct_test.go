package bmcq

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
)

func TestRenderAcctGolden(t *testing.T) {
	list := load[api.AcctList](t, "acct.json")
	var b bytes.Buffer
	if err := RenderAcct(&b, list.Jobs, DefaultAcctFormat, list.Currency); err != nil {
		t.Fatal(err)
	}
	golden(t, "acct.txt", b.Bytes())

	b.Reset()
	if err := RenderAcct(&b, list.Jobs, "jobid,kwh,AvgW,Boots,start,runtime", ""); err != nil {
		t.Fatal(err)
	}
	golden(t, "acct-format.txt", b.Bytes())

	b.Reset()
	if err := RenderAcctCSV(&b, list.Jobs, "JobID,User,Kind,Elapsed,BootJ,RunJ,OffJ,EnergyJ,Cost,Est"); err != nil {
		t.Fatal(err)
	}
	golden(t, "acct.csv", b.Bytes())

	for _, by := range []string{"account", "kind"} {
		g, err := accounting.GroupBy(usage(list.Jobs), by)
		if err != nil {
			t.Fatal(err)
		}
		b.Reset()
		if err := RenderGroups(&b, by, g, list.Currency); err != nil {
			t.Fatal(err)
		}
		golden(t, "acct-by-"+by+".txt", b.Bytes())
	}

	b.Reset()
	if err := RenderCompare(&b, accounting.Compare(usage(list.Jobs))); err != nil {
		t.Fatal(err)
	}
	golden(t, "acct-compare.txt", b.Bytes())

	cv := load[api.PowerCurve](t, "curve.json")
	b.Reset()
	if err := RenderCurve(&b, cv, 48, 8); err != nil {
		t.Fatal(err)
	}
	golden(t, "curve.txt", b.Bytes())
	b.Reset()
	if err := RenderCurveSVG(&b, cv); err != nil {
		t.Fatal(err)
	}
	golden(t, "curve.svg", b.Bytes())
}

// The fixture as accounting sees it: what the report sums and compares.
func TestAcctUsage(t *testing.T) {
	list := load[api.AcctList](t, "acct.json")
	tot := accounting.SumJobs(usage(list.Jobs))
	if tot.Jobs != 4 || tot.EnergyJoules != tot.BootJoules+tot.RunJoules+tot.OffJoules || tot.Estimated != 1 {
		t.Errorf("totals: %+v", tot)
	}
	rows := accounting.Compare(usage(list.Jobs))
	// The failed job is left out; fft ran once on x86 and twice on arm.
	if len(rows) != 2 || rows[0].Kind != "sim-arm" || rows[0].Runs != 2 || rows[0].Relative != 1 || rows[1].Relative <= 2 {
		t.Errorf("compare: %+v", rows)
	}
	if err := RenderAcct(&bytes.Buffer{}, list.Jobs, "JobID,Colour", ""); err == nil || !strings.Contains(err.Error(), "Colour") {
		t.Errorf("unknown field: %v", err)
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"now":                  now,
		"now-2h":               now.Add(-2 * time.Hour),
		"2026-11-24":           time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC),
		"2026-11-24T10:30":     time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC),
		"2026-11-24T10:30:05Z": time.Date(2026, 11, 24, 10, 30, 5, 0, time.UTC),
	} {
		got, err := parseWhen(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "now-", "now--1h", "2026-13-01"} {
		if _, err := parseWhen(bad, now); err == nil {
			t.Errorf("parseWhen(%q) accepted", bad)
		}
	}
}

func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"now", "now-90m", "2026-11-24", "2026-11-24T10:30", "2026-11-24T10:30:05+01:00", "x"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseWhen(s, now)
		if err == nil && strings.TrimSpace(s) != "" && got.IsZero() && !strings.HasPrefix(strings.TrimSpace(s), "0001") {
			t.Fatalf("parseWhen(%q) gave the zero time without an error", s)
		}
	})
}

// --format is typed by users: any text gives fields or one error naming it.
func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{DefaultAcctFormat, "jobid,KWH, avgw", ",,", "JobID,Colour", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, fields, err := parseFormat(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--format: ") {
				t.Fatalf("error %q", err)
			}
			return
		}
		if len(names) == 0 || len(names) != len(fields) {
			t.Fatalf("%q: %d names, %d fields", s, len(names), len(fields))
		}
		for _, n := range names {
			if !slices.Contains(acctFieldNames, n) {
				t.Fatalf("%q gave field %q", s, n)
			}
		}
	})
}
