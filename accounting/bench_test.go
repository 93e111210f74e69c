package accounting

import (
	"math"
	"sync"
	"testing"
	"time"
)

const benchSamples = 10_000_000

// benchTraces are built once: 10⁷ readings take a second to make and half
// a gigabyte to hold.
var benchTraces = sync.OnceValues(func() (watts, counters []Sample) {
	watts = make([]Sample, benchSamples)
	counters = make([]Sample, benchSamples)
	var cum float64
	for i := range watts {
		t := base.Add(time.Duration(i) * 100 * time.Millisecond)
		p := 200 + 150*math.Sin(float64(i)/50)
		watts[i] = Sample{Time: t, Watts: p}
		cum += p * 0.1
		counters[i] = Sample{Time: t, Joules: math.Mod(cum, 4294.967296), Counter: true}
	}
	return watts, counters
})

func benchmarkIntegrate(b *testing.B, s []Sample, opt Options) {
	from, to := s[0].Time.Add(-50*time.Millisecond), s[len(s)-1].Time.Add(50*time.Millisecond)
	b.ResetTimer()
	var r Result
	for b.Loop() {
		var err error
		r, err = Integrate(s, from, to, opt)
		if err != nil {
			b.Fatal(err)
		}
	}
	if r.Samples != len(s) || r.Estimated {
		b.Fatalf("result %+v", r)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(s)), "ns/sample")
}

// BenchmarkIntegrate integrates 10⁷ watts readings (11.6 days at 0.1 s).
func BenchmarkIntegrate(b *testing.B) {
	w, _ := benchTraces()
	benchmarkIntegrate(b, w, Options{Interval: 100 * time.Millisecond})
}

// BenchmarkIntegrateCounter integrates 10⁷ RAPL-like counter readings that
// wrap every ~20 s.
func BenchmarkIntegrateCounter(b *testing.B) {
	_, c := benchTraces()
	benchmarkIntegrate(b, c, Options{Interval: 100 * time.Millisecond, CounterMax: 4294.967296})
}

// BenchmarkPriceDay prices one day of 0.1 s readings (864 000) under
// day/night tariffs: two pieces, each integrated on its own.
func BenchmarkPriceDay(b *testing.B) {
	w, _ := benchTraces()
	s := w[:864_000]
	ts, err := ParseTariffs([]Tariff{{Name: "night", Schedule: "0 22 * * *", PricePerKWh: 0.1}, {Name: "day", Schedule: "0 6 * * *", PricePerKWh: 0.25}}, "EUR", time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	from, to := s[0].Time, s[len(s)-1].Time
	for b.Loop() {
		if _, _, err := ts.Price(s, from, to, Options{Interval: 100 * time.Millisecond}); err != nil {
			b.Fatal(err)
		}
	}
}
