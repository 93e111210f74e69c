package accounting

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// Property tests on synthetic traces whose integral is known in closed
// form. Every generator is seeded with a constant so a failure replays; the
// bounds asserted are the ones the numerical method guarantees.

const trials = 200

// Constant power: the trapezoid rule is exact, edges included.
func TestPropertyConstant(t *testing.T) {
	r := rng(1)
	for i := range trials {
		p := 50 + 450*r.Float64()
		h := 0.1 + 4.9*r.Float64()
		s := wattsTrace(func(float64) float64 { return p }, 0, 600, h)
		a := 600 * r.Float64()
		b := a + (600-a)*r.Float64()
		got := mustIntegrate(t, s, at(a), at(b), Options{Interval: time.Duration(h * 1e9)})
		// Times are rounded to the nanosecond, so the window is known to 1 ns.
		want := p * at(b).Sub(at(a)).Seconds()
		if relErr(got.Joules, want) > 1e-12 && math.Abs(got.Joules-want) > 1e-9 {
			t.Fatalf("trial %d: p=%g h=%g [%g,%g]: got %.15g want %.15g", i, p, h, a, b, got.Joules, want)
		}
		if got.Estimated {
			t.Fatalf("trial %d: estimated: %q", i, got.Reasons)
		}
	}
}

// A linear ramp is what the trapezoid rule integrates exactly, also across
// window edges that fall between samples.
func TestPropertyRamp(t *testing.T) {
	r := rng(2)
	for i := range trials {
		p0, slope := 100*r.Float64(), 2*r.Float64()-0.1
		p := func(x float64) float64 { return max(p0+slope*x, 0) }
		if p0+slope*600 < 0 {
			slope = 0
		}
		h := 0.1 + 2*r.Float64()
		s := wattsTrace(p, 0, 600, h)
		a := 550 * r.Float64()
		last := s[len(s)-1].Time.Sub(base).Seconds()
		b := a + (last-a)*r.Float64()
		xa, xb := at(a).Sub(base).Seconds(), at(b).Sub(base).Seconds()
		want := (p(xa) + p(xb)) / 2 * (xb - xa)
		got := mustIntegrate(t, s, at(a), at(b), Options{Interval: time.Duration(h * 1e9)})
		if relErr(got.Joules, want) > 1e-9 {
			t.Fatalf("trial %d: got %.15g want %.15g (rel %g)", i, got.Joules, want, relErr(got.Joules, want))
		}
	}
}

// Sine plus constant, with a known integral. The trapezoid error on a full
// interval is at most h³·max|f”|/12, and on a partial interval at the
// window edge the interpolant is off by at most h²·max|f”|/8 pointwise, so
// |error| ≤ max|f”|·h²·(W/12 + h/4).
func TestPropertySine(t *testing.T) {
	r := rng(3)
	for i := range trials {
		c := 150 + 100*r.Float64()
		amp := 100 * r.Float64()
		period := 5 + 60*r.Float64()
		omega := 2 * math.Pi / period
		phi := 2 * math.Pi * r.Float64()
		f := func(x float64) float64 { return c + amp*math.Sin(omega*x+phi) }
		h := period / (10 + 90*r.Float64()) // 10 to 100 samples per period
		s := wattsTrace(f, 0, 900, h)
		a := 800 * r.Float64()
		b := a + (900-h-a)*r.Float64()
		xa, xb := at(a).Sub(base).Seconds(), at(b).Sub(base).Seconds()
		want := c*(xb-xa) - amp/omega*(math.Cos(omega*xb+phi)-math.Cos(omega*xa+phi))
		got := mustIntegrate(t, s, at(a), at(b), Options{Interval: time.Duration(h * 1e9)})
		bound := amp*omega*omega*h*h*((xb-xa)/12+h/4) + 1e-9*math.Abs(want)
		if math.Abs(got.Joules-want) > bound {
			t.Fatalf("trial %d: error %g exceeds bound %g (h=%g period=%g)", i, got.Joules-want, bound, h, period)
		}
	}
}

// Step changes (transitions faster than a sample) cost at most |ΔP|·h
// each: the interpolant differs from the truth only inside the one
// sampling interval that holds the step.
func TestPropertySteps(t *testing.T) {
	r := rng(4)
	for i := range trials {
		var pr profile
		x, p := 0.0, 100+300*r.Float64()
		var jumps float64
		for x < 300 {
			hold := 0.5 + 20*r.Float64()
			pr = append(pr, segment{x, x + hold, p, p})
			x += hold
			next := 100 + 300*r.Float64()
			pr = append(pr, segment{x, x + 1e-6, p, next})
			x += 1e-6
			jumps += math.Abs(next - p)
			p = next
		}
		h := 0.1 + 2*r.Float64()
		s := sampleProfile(pr, r, 0, 300, h, 0)
		a := 250 * r.Float64()
		b := a + (300-a)*r.Float64()
		xa, xb := at(a).Sub(base).Seconds(), at(b).Sub(base).Seconds()
		want := pr.energy(xa, xb)
		got := mustIntegrate(t, s, at(a), at(b), Options{Interval: time.Duration(h * 1e9)})
		if bound := jumps*h + 1e-9*want; math.Abs(got.Joules-want) > bound {
			t.Fatalf("trial %d: error %g exceeds bound %g", i, got.Joules-want, bound)
		}
	}
}

// A wrapping counter read at irregular times gives the exact energy between
// readings, however many wraps; window edges between readings cost at most
// (Pmax-Pmin)·h/4 each (the largest distance between a cumulative energy
// and its chord over one interval).
func TestPropertyCounterWrap(t *testing.T) {
	r := rng(5)
	const modulus = 1000.0 // J; wraps every 2.5-10 s at 100-400 W
	for i := range trials {
		pr := bursty(r, 300, 100, 400)
		var xs []float64
		for x := 0.0; x < 300; x += 0.2 + 0.8*r.Float64() {
			xs = append(xs, x)
		}
		offset := modulus * r.Float64()
		s := counterTrace(pr, xs, offset, modulus)
		opt := Options{CounterMax: modulus}
		ia := r.IntN(len(xs) / 2)
		ib := ia + 1 + r.IntN(len(xs)-ia-1)
		got := mustIntegrate(t, s, at(xs[ia]), at(xs[ib]), opt)
		want := pr.energy(xs[ia], xs[ib])
		if math.Abs(got.Joules-want) > 1e-9*want+1e-9 {
			t.Fatalf("trial %d: on readings got %.12g want %.12g", i, got.Joules, want)
		}
		if got.Estimated || got.Method != MethodCounter {
			t.Fatalf("trial %d: estimated %v method %s: %q", i, got.Estimated, got.Method, got.Reasons)
		}
		a := xs[0] + (xs[len(xs)-1]-xs[0])*r.Float64()/2
		b := a + (xs[len(xs)-1]-a)*r.Float64()
		xa, xb := at(a).Sub(base).Seconds(), at(b).Sub(base).Seconds()
		got = mustIntegrate(t, s, at(a), at(b), opt)
		want = pr.energy(xa, xb)
		if bound := 2*(400-100)*1.0/4 + 1e-9*want; math.Abs(got.Joules-want) > bound {
			t.Fatalf("trial %d: between readings error %g exceeds %g", i, got.Joules-want, bound)
		}
	}
}

// Random gaps in a linear trace: the interpolation that bridges them is
// exact for a line, so the energy must be exact, flagged exactly when a gap
// longer than the limit overlaps the window, with the coverage to match.
func TestPropertyGaps(t *testing.T) {
	r := rng(6)
	for i := range trials {
		p0, slope := 100+100*r.Float64(), r.Float64()
		var s []Sample
		for x := 0.0; x <= 600; x++ {
			if r.Float64() < 0.02 { // start a gap of 1-20 readings
				x += float64(1 + r.IntN(20))
			}
			s = append(s, Sample{Time: at(x), Watts: p0 + slope*x})
		}
		a := float64(s[0].Time.Sub(base)/time.Second) + 500*r.Float64()
		last := s[len(s)-1].Time.Sub(base).Seconds()
		b := a + (last-a)*r.Float64()
		got := mustIntegrate(t, s, at(a), at(b), Options{})
		want := (2*p0 + slope*(a+b)) / 2 * (b - a)
		if relErr(got.Joules, want) > 1e-9 {
			t.Fatalf("trial %d: got %.12g want %.12g", i, got.Joules, want)
		}
		var uncovered float64
		for k := 0; k+1 < len(s); k++ {
			xa, xb := s[k].Time.Sub(base).Seconds(), s[k+1].Time.Sub(base).Seconds()
			if xb-xa > 5 {
				uncovered += max(0, min(xb, b)-max(xa, a))
			}
		}
		if wantEst := uncovered > 0; got.Estimated != wantEst {
			t.Fatalf("trial %d: estimated = %v, want %v (%q)", i, got.Estimated, wantEst, got.Reasons)
		}
		if wantCov := 1 - uncovered/(b-a); math.Abs(got.Coverage-wantCov) > 1e-9 {
			t.Fatalf("trial %d: coverage %g want %g", i, got.Coverage, wantCov)
		}
	}
}

// Splitting a window anywhere adds up to the whole, for both methods: the
// property that makes per-phase and per-tariff bills consistent.
func TestPropertyAdditive(t *testing.T) {
	r := rng(7)
	for i := range trials {
		pr := bursty(r, 120, 90, 350)
		s := sampleProfile(pr, r, 0, 120, 0.5+r.Float64(), 0.05)
		if i%2 == 1 {
			var xs []float64
			for _, x := range s {
				xs = append(xs, x.Time.Sub(base).Seconds())
			}
			s = counterTrace(pr, xs, 0, 5000)
		}
		a := 100 * r.Float64()
		c := a + (130-a)*r.Float64() // may run past the last reading
		b := a + (c-a)*r.Float64()
		opt := Options{CounterMax: 5000}
		whole := mustIntegrate(t, s, at(a), at(c), opt)
		left := mustIntegrate(t, s, at(a), at(b), opt)
		right := mustIntegrate(t, s, at(b), at(c), opt)
		if sum := left.Joules + right.Joules; math.Abs(sum-whole.Joules) > 1e-9*whole.Joules+1e-9 {
			t.Fatalf("trial %d: %g + %g = %g, whole %g", i, left.Joules, right.Joules, sum, whole.Joules)
		}
	}
}

func ExampleIntegrate() {
	s := []Sample{
		{Time: at(0), Watts: 100},
		{Time: at(1), Watts: 300},
		{Time: at(2), Watts: 300},
		{Time: at(14), Watts: 300},
	}
	r, err := Integrate(s, at(0.5), at(14), Options{})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.1f J, estimated %v, coverage %.2f\n", r.Joules, r.Estimated, r.Coverage)
	fmt.Println(r.Reasons[0])
	// Output:
	// 4025.0 J, estimated true, coverage 0.11
	// gap of 12.0s in power samples at 2026-11-25T10:00:02.000Z (limit 5s); bridged by linear interpolation from 300.0 W to 300.0 W
}

// Two counter readings at one instant on a window boundary are counted in
// exactly one of the two windows.
func TestCounterSameInstantOnBoundary(t *testing.T) {
	c := func(x, j float64) Sample { return Sample{Time: at(x), Joules: j, Counter: true} }
	s := []Sample{c(0, 0), c(1, 100), c(1, 150), c(2, 250)}
	left := mustIntegrate(t, s, at(0), at(1), Options{})
	right := mustIntegrate(t, s, at(1), at(2), Options{})
	if left.Joules != 150 || right.Joules != 100 {
		t.Fatalf("left %g right %g, want 150 and 100", left.Joules, right.Joules)
	}
}
