package bmc

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bmc-sched/bmc/power"
)

func golden(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseDCMIPowerReading(t *testing.T) {
	for _, tc := range []struct {
		name    string
		out     string
		want    float64
		wantErr error
	}{
		{"golden", golden(t, "dcmi-power-reading.handwritten.txt"), 220, nil},
		{"deactivated", golden(t, "dcmi-power-reading-deactivated.handwritten.txt"), 0, power.ErrUnsupported},
		{"ipmi_sim has no dcmi", golden(t, "dcmi-invalid-command.ipmi-sim.txt"), 0, ErrNoReading},
		{"zero while active is a reading", "Instantaneous power reading: 0 Watts\nPower reading state is: activated\n", 0, nil},
		{"no state line", "    Instantaneous power reading:   1500 Watts\n", 1500, nil},
		{"negative", "Instantaneous power reading: -5 Watts\n", 0, ErrNoReading},
		{"wrong unit", "Instantaneous power reading: 5 Amps\n", 0, ErrNoReading},
		{"garbage number", "Instantaneous power reading: x Watts\n", 0, ErrNoReading},
		{"NaN", "Instantaneous power reading: NaN Watts\n", 0, ErrNoReading},
		{"empty", "", 0, ErrNoReading},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDCMIPowerReading(tc.out)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestParseSDRGet(t *testing.T) {
	for _, tc := range []struct {
		name    string
		out     string
		want    float64
		wantErr bool
	}{
		{"ipmi_sim sys power", golden(t, "sdr-get-sys-power.ipmi-sim.txt"), 236, false},
		{"ipmi_sim zero", golden(t, "sdr-get-zero.ipmi-sim.txt"), 0, false},
		{"missing sensor (ipmitool exits 0)", golden(t, "sdr-get-missing.ipmi-sim.txt"), 0, true},
		{"fractional", " Sensor Reading        : 140.50 (+/- 0.50) Watts\n", 140.5, false},
		{"no tolerance", " Sensor Reading        : 98 Watts\n", 98, false},
		{"no reading", " Sensor Reading        : No Reading\n", 0, true},
		{"temperature sensor", " Sensor Reading        : 41 (+/- 0) degrees C\n", 0, true},
		{"unclosed paren", " Sensor Reading        : 41 (+/- 0 Watts\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSDRGet(tc.out)
			if tc.wantErr {
				if !errors.Is(err, ErrNoReading) {
					t.Fatalf("= %v, %v; want ErrNoReading", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func FuzzParseDCMIPowerReading(f *testing.F) {
	f.Add(golden(f, "dcmi-power-reading.handwritten.txt"))
	f.Add(golden(f, "dcmi-power-reading-deactivated.handwritten.txt"))
	f.Add(golden(f, "dcmi-invalid-command.ipmi-sim.txt"))
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseDCMIPowerReading(s)
		if err == nil && (w < 0 || w != w) {
			t.Fatalf("accepted %v from %q", w, s)
		}
	})
}

func FuzzParseSDRGet(f *testing.F) {
	f.Add(golden(f, "sdr-get-sys-power.ipmi-sim.txt"))
	f.Add(golden(f, "sdr-get-missing.ipmi-sim.txt"))
	f.Add(" Sensor Reading : 1 (+/- 0) Watts")
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseSDRGet(s)
		if err == nil && (w < 0 || w != w) {
			t.Fatalf("accepted %v from %q", w, s)
		}
	})
}
