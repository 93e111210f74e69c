package accounting

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// base is the instant all synthetic traces are measured from.
var base = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// at is base plus sec seconds.
func at(sec float64) time.Time { return base.Add(time.Duration(math.Round(sec * 1e9))) }

// wattsTrace samples p every step seconds from start to end inclusive.
func wattsTrace(p func(x float64) float64, start, end, step float64) []Sample {
	var s []Sample
	for k := 0; ; k++ {
		x := start + float64(k)*step
		if x > end+1e-9 {
			break
		}
		s = append(s, Sample{Time: at(x), Watts: p(x)})
	}
	return s
}

// rng is a seeded generator: failures replay.
func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6a6f756c6573)) }

// segment is one piece of a piecewise-linear power profile.
type segment struct {
	x0, x1 float64 // seconds
	p0, p1 float64 // watts at x0 and x1
}

// profile is a piecewise-linear true power curve with a closed-form
// integral: the ground truth of the synthetic traces.
type profile []segment

func (pr profile) power(x float64) float64 {
	if len(pr) == 0 {
		return 0
	}
	if x <= pr[0].x0 {
		return pr[0].p0
	}
	// Binary search: traces are long.
	lo, hi := 0, len(pr)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if pr[mid].x0 <= x {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	s := pr[lo]
	if x >= s.x1 {
		return s.p1
	}
	return s.p0 + (s.p1-s.p0)*(x-s.x0)/(s.x1-s.x0)
}

// energy is the exact integral of the profile over [a, b] (held flat
// outside its span).
func (pr profile) energy(a, b float64) float64 {
	var e float64
	if a < pr[0].x0 {
		e += pr[0].p0 * (min(b, pr[0].x0) - a)
	}
	last := pr[len(pr)-1]
	if b > last.x1 {
		e += last.p1 * (b - max(a, last.x1))
	}
	first := sort.Search(len(pr), func(i int) bool { return pr[i].x1 > a })
	for _, s := range pr[first:] {
		if s.x0 >= b {
			break
		}
		ca, cb := max(a, s.x0), min(b, s.x1)
		if cb <= ca {
			continue
		}
		e += (pr.power(ca) + pr.power(cb)) / 2 * (cb - ca)
	}
	return e
}

// bursty is a realistic CPU-load trace: idle stretches and bursts to peak or
// to a middle level, with ramps of 50-500 ms as the power supply and fans
// follow the load.
func bursty(r *rand.Rand, length, idle, peak float64) profile {
	var pr profile
	x, p := 0.0, idle
	for x < length {
		// Hold the current level for 0.2-20 s (log-uniform: many short
		// bursts, some long plateaus).
		hold := 0.2 * math.Pow(100, r.Float64())
		pr = append(pr, segment{x, x + hold, p, p})
		x += hold
		var next float64
		switch r.IntN(3) {
		case 0:
			next = idle + (peak-idle)*0.05*r.Float64()
		case 1:
			next = peak - (peak-idle)*0.05*r.Float64()
		default:
			next = idle + (peak-idle)*(0.3+0.4*r.Float64())
		}
		ramp := 0.05 + 0.45*r.Float64()
		pr = append(pr, segment{x, x + ramp, p, next})
		x += ramp
		p = next
	}
	return pr
}

// sampleProfile reads the profile every step seconds from start to end
// with a timing jitter of ±jitter×step, as a polling sampler does.
func sampleProfile(pr profile, r *rand.Rand, start, end, step, jitter float64) []Sample {
	var s []Sample
	for k := 0; ; k++ {
		x := start + float64(k)*step
		if x > end {
			break
		}
		if jitter > 0 && k > 0 {
			x += (2*r.Float64() - 1) * jitter * step
		}
		s = append(s, Sample{Time: at(x), Watts: pr.power(x)})
	}
	return s
}

// counterTrace reads the profile's cumulative energy, starting at offset
// and wrapping at modulus (0: never), at the given positions.
func counterTrace(pr profile, xs []float64, offset, modulus float64) []Sample {
	s := make([]Sample, len(xs))
	cum, prev := 0.0, 0.0
	for i, x := range xs {
		cum += pr.energy(prev, x)
		prev = x
		v := offset + cum
		if modulus > 0 {
			v = math.Mod(v, modulus)
		}
		s[i] = Sample{Time: at(x), Joules: v, Counter: true}
	}
	return s
}

func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

func mustIntegrate(t testing.TB, s []Sample, from, to time.Time, opt Options) Result {
	t.Helper()
	r, err := Integrate(s, from, to, opt)
	if err != nil {
		t.Fatalf("Integrate: %v", err)
	}
	return r
}
