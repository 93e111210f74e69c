package accounting

import (
	"slices"
	"time"
)

// Downsample reduces samples to at most maxPoints (at least 3) readings for
// drawing a job's power curve, keeping its energy: integrating the result
// gives the energy of the input up to rounding.
//
// The span is cut into equal time buckets and each bucket's exact energy
// (integrated as Integrate does) becomes its mean power. Watts come back as
// one reading at each bucket's middle plus the first and last instant, which
// the trapezoid rule integrates back to the bucket energies. Counters come
// back as counter readings at the bucket edges, unwrapped (opt.CounterMax)
// so that no wrap is lost between the fewer readings, each carrying the
// bucket's mean watts for the plot. When both kinds are present the counter
// readings are kept, as Integrate prefers them. Peaks narrower than a bucket
// are flattened, which is the price of keeping the energy.
func Downsample(samples []Sample, maxPoints int, opt Options) ([]Sample, error) {
	opt, err := opt.normalized()
	if err != nil {
		return nil, err
	}
	maxPoints = max(maxPoints, 3)
	s := make([]Sample, 0, len(samples))
	counters := 0
	for _, x := range samples {
		if x.Counter {
			counters++
		}
	}
	counter := counters >= 2
	for _, x := range samples {
		if x.Counter == counter {
			s = append(s, x)
		}
	}
	slices.SortStableFunc(s, func(a, b Sample) int { return a.Time.Compare(b.Time) })
	if err := checkSamples(s); err != nil {
		return nil, err
	}
	n := len(s)
	if n <= maxPoints {
		return s, nil
	}
	t0, tn := s[0].Time, s[n-1].Time
	span := tn.Sub(t0)
	if span <= 0 {
		return []Sample{s[0], s[n-1]}, nil
	}
	buckets := maxPoints - 2
	if counter {
		buckets = maxPoints - 1
	}
	w := walker{s: s, t0: t0, counter: counter, modulus: opt.CounterMax}
	edges := make([]time.Duration, buckets+1)
	cum := make([]float64, buckets+1)
	for k := range edges {
		edges[k] = time.Duration(float64(span) * float64(k) / float64(buckets))
		if k == buckets {
			edges[k] = span
		}
		cum[k] = w.at(edges[k])
	}
	mean := func(k int) float64 {
		d := (edges[k+1] - edges[k]).Seconds()
		if d <= 0 {
			return 0
		}
		return (cum[k+1] - cum[k]) / d
	}
	if counter {
		out := make([]Sample, 0, buckets+1)
		for k, e := range edges {
			out = append(out, Sample{Time: t0.Add(e), Joules: s[0].Joules + cum[k], Watts: mean(max(k-1, 0)), Counter: true})
		}
		return out, nil
	}
	out := make([]Sample, 0, buckets+2)
	out = append(out, Sample{Time: t0, Watts: mean(0)})
	for k := 0; k < buckets; k++ {
		out = append(out, Sample{Time: t0.Add(edges[k] + (edges[k+1]-edges[k])/2), Watts: mean(k)})
	}
	out = append(out, Sample{Time: tn, Watts: mean(buckets - 1)})
	return out, nil
}

// walker returns the energy from the first reading up to increasing
// offsets, in one pass.
type walker struct {
	s       []Sample
	t0      time.Time
	counter bool
	modulus float64
	i       int
	acc     float64 // energy from s[0] to s[i]
}

func (w *walker) step(i int, part float64) float64 {
	a, b := w.s[i], w.s[i+1]
	dt := b.Time.Sub(a.Time).Seconds()
	if dt <= 0 {
		return 0
	}
	if w.counter {
		inc, _ := counterIncrement(a.Joules, b.Joules, w.modulus)
		return inc * part / dt
	}
	pb := a.Watts + (b.Watts-a.Watts)*part/dt
	return (a.Watts + pb) / 2 * part
}

func (w *walker) at(d time.Duration) float64 {
	for w.i+1 < len(w.s) && w.s[w.i+1].Time.Sub(w.t0) <= d {
		dt := w.s[w.i+1].Time.Sub(w.s[w.i].Time).Seconds()
		w.acc += w.step(w.i, dt)
		w.i++
	}
	if w.i+1 >= len(w.s) {
		return w.acc
	}
	part := (d - w.s[w.i].Time.Sub(w.t0)).Seconds()
	return w.acc + w.step(w.i, part)
}
