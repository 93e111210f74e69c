package wallcron

import (
	"testing"
	"time"
	_ "time/tzdata" // the zones are in the test, whatever the machine has
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestNextAcrossDST(t *testing.T) {
	paris, ny := zone(t, "Europe/Paris"), zone(t, "America/New_York")
	utc := func(s string) time.Time {
		x, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, tc := range []struct {
		name, spec string
		loc        *time.Location
		from       string
		want       []string // successive activations, UTC
	}{
		{"Paris: 02:30 is skipped on 29 March and fires when the gap ends at 03:00 CEST", "30 2 * * *", paris,
			"2026-03-28T12:00:00Z", []string{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"Paris: 02:30 happens twice on 25 October and fires once, the first time", "30 2 * * *", paris,
			"2026-10-24T12:00:00Z", []string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"Paris: every quarter hour through the repeated hour fires each wall time once", "*/30 2 * * *", paris,
			"2026-10-24T23:00:00Z", []string{"2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:00:00Z"}},
		{"Paris: 03:00 on the spring night is the gap's end too", "0 3 * * *", paris,
			"2026-03-28T12:00:00Z", []string{"2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z"}},
		{"New York: 02:15 is skipped on 8 March and fires at 03:00 EDT", "15 2 * * *", ny,
			"2026-03-07T12:00:00Z", []string{"2026-03-08T07:00:00Z", "2026-03-09T06:15:00Z"}},
		{"New York: 01:30 happens twice on 1 November and fires once", "30 1 * * *", ny,
			"2026-10-31T12:00:00Z", []string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"UTC has no change", "0 22 * * *", nil,
			"2026-03-29T00:00:00Z", []string{"2026-03-29T22:00:00Z", "2026-03-30T22:00:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.spec, tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			at := utc(tc.from)
			for i, w := range tc.want {
				at = s.Next(at)
				if !at.Equal(utc(w)) {
					t.Fatalf("activation %d: %s, want %s", i+1, at.UTC().Format(time.RFC3339), w)
				}
			}
		})
	}
}

func TestPrevIsTheLatestActivation(t *testing.T) {
	paris := zone(t, "Europe/Paris")
	s, err := Parse("30 2 * * *", paris)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ at, want string }{
		{"2026-03-29T01:00:00Z", "2026-03-29T01:00:00Z"}, // exactly at the gap's end
		{"2026-03-29T00:59:00Z", "2026-03-28T01:30:00Z"},
		{"2026-10-25T01:40:00Z", "2026-10-25T00:30:00Z"}, // the second 02:40 CET: the first 02:30 fired
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		got, ok := s.Prev(at)
		if !ok || got.UTC().Format(time.RFC3339) != tc.want {
			t.Errorf("Prev(%s) = %s %v, want %s", tc.at, got.UTC().Format(time.RFC3339), ok, tc.want)
		}
	}
}

func TestInstant(t *testing.T) {
	paris := zone(t, "Europe/Paris")
	for _, tc := range []struct{ wall, want string }{
		{"2026-03-29T02:30:00Z", "2026-03-29T01:00:00Z"}, // skipped → gap end
		{"2026-03-29T01:59:00Z", "2026-03-29T00:59:00Z"},
		{"2026-10-25T02:30:00Z", "2026-10-25T00:30:00Z"}, // repeated → first
		{"2026-07-01T12:00:00Z", "2026-07-01T10:00:00Z"},
	} {
		w, _ := time.Parse(time.RFC3339, tc.wall)
		if got := Instant(w, paris).UTC().Format(time.RFC3339); got != tc.want {
			t.Errorf("Instant(%s) = %s, want %s", tc.wall, got, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, spec := range []string{"", "61 * * * *", "CRON_TZ=UTC 0 1 * * *", "@every 1h", "0 0 30 2 *", "* * * * * *"} {
		if _, err := Parse(spec, nil); err == nil {
			t.Errorf("Parse(%q) accepted", spec)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"30 2 * * *", "*/15 1-3 * 3,10 0", "@monthly", "0 0 29 2 *"} {
		f.Add(s)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec, paris)
		if err != nil {
			return
		}
		// Activations move forward, and Prev of one is itself.
		at := time.Date(2026, 10, 24, 22, 0, 0, 0, time.UTC)
		for range 5 {
			n := s.Next(at)
			if n.IsZero() {
				return
			}
			if !n.After(at) {
				t.Fatalf("%q: Next(%v) = %v", spec, at, n)
			}
			if p, ok := s.Prev(n); !ok || !p.Equal(n) {
				t.Fatalf("%q: Prev(%v) = %v %v", spec, n, p, ok)
			}
			at = n
		}
	})
}
