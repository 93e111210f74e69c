package accounting

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/bmc-sched/bmc/power"
)

// Sample keeps the fields of power.Reading so readings convert directly.
func TestSampleConvertsFromReading(t *testing.T) {
	r := power.Reading{Time: at(3), Watts: 120, Joules: 7, Counter: true}
	if s := Sample(r); s.Time != r.Time || s.Watts != 120 || s.Joules != 7 || !s.Counter {
		t.Fatalf("Sample(%+v) = %+v", r, s)
	}
}

func TestIntegratePhases(t *testing.T) {
	// 100 W while booting, 300 W running, 150 W shutting down; 1 s samples.
	pr := profile{{0, 30, 100, 100}, {30, 30.5, 100, 300}, {30.5, 90, 300, 300}, {90, 90.5, 300, 150}, {90.5, 120, 150, 150}}
	s := sampleProfile(pr, rng(10), 0, 125, 1, 0)
	ph := Phases{PowerOn: at(0.4), RunStart: at(30.25), RunEnd: at(90.25), OffConfirmed: at(119.6)}
	got, err := IntegratePhases(s, ph, Options{})
	if err != nil {
		t.Fatal(err)
	}
	whole := mustIntegrate(t, s, ph.PowerOn, ph.OffConfirmed, Options{})
	if sum := got.Boot.Joules + got.Run.Joules + got.Off.Joules; sum != got.Total.Joules {
		t.Errorf("boot+run+off = %v, total %v: must be equal exactly", sum, got.Total.Joules)
	}
	if relErr(got.Total.Joules, whole.Joules) > 1e-12 {
		t.Errorf("total %v, integrating the whole window %v", got.Total.Joules, whole.Joules)
	}
	for _, c := range []struct {
		ph   Phase
		a, b float64
	}{{Boot, 0.4, 30.25}, {Run, 30.25, 90.25}, {Off, 90.25, 119.6}} {
		want := pr.energy(c.a, c.b)
		// The 0.5 s ramps fall inside one 1 s sample interval: error ≤ ΔP·h.
		if e := math.Abs(got.Phase(c.ph).Joules - want); e > 200*1 {
			t.Errorf("%s: %g J, truth %g J", c.ph, got.Phase(c.ph).Joules, want)
		}
	}
	if got.Total.Samples != 119 { // readings at 1 s … 119 s
		t.Errorf("total samples = %d, want 119", got.Total.Samples)
	}
	if got.Total.Estimated || got.Total.Coverage != 1 || got.Total.Method != MethodWatts {
		t.Errorf("total = %+v", got.Total)
	}
}

// Whatever the boundaries and trace, the phases add up to the whole window.
func TestPropertyPhasesAddUp(t *testing.T) {
	r := rng(11)
	for i := range trials {
		pr := bursty(r, 200, 80, 300)
		s := sampleProfile(pr, r, 0, 200, 0.2+3*r.Float64(), 0.1)
		if r.IntN(4) == 0 { // drop a stretch: gaps must not break the sum
			k := r.IntN(len(s) / 2)
			s = append(s[:k:k], s[k+r.IntN(len(s)/2):]...)
		}
		if i%2 == 1 {
			var xs []float64
			for _, x := range s {
				xs = append(xs, x.Time.Sub(base).Seconds())
			}
			s = counterTrace(pr, xs, 1e6*r.Float64(), 0)
		}
		b := []float64{220 * r.Float64(), 220 * r.Float64(), 220 * r.Float64(), 220 * r.Float64()}
		sortFloats(b)
		ph := Phases{PowerOn: at(b[0]), RunStart: at(b[1]), RunEnd: at(b[2]), OffConfirmed: at(b[3])}
		got, err := IntegratePhases(s, ph, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Boot.Joules+got.Run.Joules+got.Off.Joules != got.Total.Joules {
			t.Fatalf("trial %d: phases do not add up exactly", i)
		}
		whole := mustIntegrate(t, s, ph.PowerOn, ph.OffConfirmed, Options{})
		if math.Abs(got.Total.Joules-whole.Joules) > 1e-9*whole.Joules+1e-9 {
			t.Fatalf("trial %d: total %v, whole window %v", i, got.Total.Joules, whole.Joules)
		}
		if got.Total.Estimated != (got.Boot.Estimated || got.Run.Estimated || got.Off.Estimated) {
			t.Fatalf("trial %d: total estimated %v disagrees with its phases", i, got.Total.Estimated)
		}
	}
}

func sortFloats(f []float64) {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && f[j] < f[j-1]; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
}

func TestPhasesValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Phases
		want string
	}{
		{"ok", Phases{at(0), at(1), at(2), at(3)}, ""},
		{"boot failed: empty run", Phases{at(0), at(1), at(1), at(3)}, ""},
		{"unset", Phases{PowerOn: at(0), RunStart: at(1), RunEnd: at(2)}, "off confirmed is not set"},
		{"out of order", Phases{at(0), at(2), at(1), at(3)}, "run end (2026-11-25T10:00:01.000Z) is before run start (2026-11-25T10:00:02.000Z)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrPhaseOrder) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrPhaseOrder with %q", err, tt.want)
			}
			if _, err := IntegratePhases(nil, tt.p, Options{}); !errors.Is(err, ErrPhaseOrder) {
				t.Fatalf("IntegratePhases err = %v", err)
			}
		})
	}
}

func TestSum(t *testing.T) {
	a := PhaseResult{
		Boot:  Result{Joules: 1, Samples: 2, Coverage: 1, Method: MethodWatts},
		Run:   Result{Joules: 10, Samples: 20, Coverage: 0.5, Estimated: true, Reasons: []string{"gap"}, Method: MethodWatts},
		Off:   Result{Joules: 0.1, Samples: 1, Coverage: 1, Method: MethodWatts},
		Total: Result{Joules: 11.1, Samples: 22, Coverage: 0.6, Estimated: true, Reasons: []string{"run: gap"}, Method: MethodWatts},
	}.WithReasonPrefix("n1: ")
	b := PhaseResult{
		Boot:  Result{Joules: 2, Samples: 3, Coverage: 1, Method: MethodCounter},
		Run:   Result{Joules: 20, Samples: 30, Coverage: 0.9, Method: MethodCounter},
		Off:   Result{Joules: 0.2, Samples: 2, Coverage: 1, Method: MethodCounter},
		Total: Result{Joules: 22.2, Samples: 34, Coverage: 0.95, Method: MethodCounter},
	}
	s := Sum(a, b)
	if s.Run.Joules != 30 || s.Run.Samples != 50 || s.Run.Coverage != 0.5 || !s.Run.Estimated || s.Run.Method != MethodMixed {
		t.Errorf("run = %+v", s.Run)
	}
	if s.Total.Joules != s.Boot.Joules+s.Run.Joules+s.Off.Joules {
		t.Errorf("total %v is not boot+run+off", s.Total.Joules)
	}
	if s.Total.Samples != 56 || s.Total.Coverage != 0.6 || len(s.Total.Reasons) != 1 || s.Total.Reasons[0] != "n1: run: gap" {
		t.Errorf("total = %+v", s.Total)
	}
	if z := Sum(); z.Total.Joules != 0 || z.Total.Method != MethodNone {
		t.Errorf("Sum() = %+v", z)
	}
}
