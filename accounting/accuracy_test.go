package accounting

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// slurmLike reproduces what Slurm's acct_gather_energy/ipmi plugin reports
// as a job's ConsumedEnergy with its defaults: a thread polls the node's
// power every 30 s (EnergyIPMIFrequency) at whole-second timestamps,
// reads integer watts, and adds
// (time1-time0)*(watt1+watt0)/2 in integer arithmetic
// (_get_additional_consumption) to a node counter; the job's energy is that
// counter as of the last poll before the job ended minus the same as of the
// last poll before it started. pollPhase (0-29 s) places the polling grid.
func slurmLike(pr profile, from, to float64, pollPhase int) float64 {
	const period = 30
	counterAt := func(x float64) uint64 {
		var c uint64
		prevT := int64(pollPhase)
		prevW := uint64(pr.power(float64(prevT)))
		for t := prevT + period; float64(t) <= x; t += period {
			w := uint64(pr.power(float64(t))) // the sensor's integer watts
			c += uint64(t-prevT) * (w + prevW) / 2
			prevT, prevW = t, w
		}
		return c
	}
	return float64(counterAt(to) - counterAt(from))
}

// TestSlurmLikeMethod pins the reproduction down on traces where its answer
// can be worked out by hand.
func TestSlurmLikeMethod(t *testing.T) {
	flat := profile{{0, 10000, 200.7, 200.7}}
	// 600 s of 200.7 W: twenty polls of 30 s at 200 W (integer watts).
	if got := slurmLike(flat, 100.5, 700.5, 5); got != 120000 {
		t.Errorf("flat 600 s = %g J, want 120000 (truth %g)", got, flat.energy(100.5, 700.5))
	}
	// A 10 s job between two polls reports nothing.
	if got := slurmLike(flat, 101, 111, 5); got != 0 {
		t.Errorf("10 s between polls = %g J, want 0", got)
	}
	// Trapezoid between polls: 100 W then 301 W at the next poll (and
	// after) → 30·(100+301)/2 = 6015 J.
	step := profile{{0, 29.999, 100, 100}, {29.999, 30, 100, 301}, {30, 10000, 301, 301}}
	if got := slurmLike(step, 0, 30, 0); got != 6015 {
		t.Errorf("step = %g J, want 6015", got)
	}
}

// accuracyCell runs trials of one job length and sampling interval, and
// returns the mean and worst relative error of ours and of the Slurm-like
// method on bursty synthetic traces.
func accuracyCell(length, interval float64, trials int) (oursMean, oursMax, slurmMean, slurmMax float64) {
	for k := range trials {
		// Seeded by the cell's job length and the trial only, so every
		// interval sees the same traces and Slurm figures.
		r := rng(uint64(length*1000) + uint64(k))
		start := 60 + 30*r.Float64()
		pr := bursty(r, start+length+120, 95, 350)
		pollPhase := r.IntN(30)
		truth := pr.energy(start, start+length)
		// Our sampler runs from before the job to after it, at its own
		// phase, with 2 % timing jitter.
		sr := rng(uint64(length*1000) + uint64(k) + uint64(interval*1e6))
		first := start - interval*(1+sr.Float64())
		s := sampleProfile(pr, sr, first, start+length+2*interval, interval, 0.02)
		res, err := Integrate(s, at(start), at(start+length), Options{Interval: time.Duration(interval * 1e9)})
		if err != nil {
			panic(err)
		}
		// at() rounds to the nanosecond; measure the truth over the same
		// window.
		truth = pr.energy(at(start).Sub(base).Seconds(), at(start+length).Sub(base).Seconds())
		e := relErr(res.Joules, truth)
		oursMean += e / float64(trials)
		oursMax = max(oursMax, e)
		e = relErr(slurmLike(pr, start, start+length, pollPhase), truth)
		slurmMean += e / float64(trials)
		slurmMax = max(slurmMax, e)
	}
	return
}

// TestAccuracyTable prints (with -v) the relative error of the energy of
// a job by job length and sampling interval, ours against the Slurm-like
// method, and checks it against testdata/accuracy.golden (-update rewrites
// it). The figures are in bench/README.md.
func TestAccuracyTable(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 1280 synthetic jobs")
	}
	const trials = 100
	var b strings.Builder
	fmt.Fprintf(&b, "relative error of a job's energy, mean and worst of %d seeded bursty traces (95-350 W)\n", trials)
	fmt.Fprintf(&b, "%-8s %-9s %-22s %-22s\n", "job", "interval", "ours (float W, trapz)", "Slurm-like (int W, 30s)")
	fmt.Fprintf(&b, "%-8s %-9s %-10s %-11s %-10s %-11s\n", "", "", "mean", "worst", "mean", "worst")
	type row struct{ length, interval, oursMean, slurmMean float64 }
	var rows []row
	for _, length := range []float64{10, 60, 600, 3600} {
		for _, interval := range []float64{0.1, 1, 5, 30} {
			om, ox, sm, sx := accuracyCell(length, interval, trials)
			rows = append(rows, row{length, interval, om, sm})
			fmt.Fprintf(&b, "%-8s %-9s %-10s %-11s %-10s %-11s\n",
				fmt.Sprintf("%gs", length), fmt.Sprintf("%gs", interval), pct(om), pct(ox), pct(sm), pct(sx))
		}
	}
	table := b.String()
	t.Log("\n" + table)
	golden := filepath.Join("testdata", "accuracy.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != table {
		t.Errorf("table differs from %s (run with -update if the change is intended):\n%s", golden, table)
	}
	// What the table must show: at 1 s sampling or finer we beat the
	// Slurm-like method at every job length, and our error shrinks as the
	// interval does.
	for _, r := range rows {
		if r.interval <= 1 && r.oursMean >= r.slurmMean {
			t.Errorf("%gs job at %gs: ours %s not better than Slurm-like %s", r.length, r.interval, pct(r.oursMean), pct(r.slurmMean))
		}
	}
	for i := 1; i < len(rows); i++ {
		if rows[i].length == rows[i-1].length && rows[i].oursMean < rows[i-1].oursMean {
			t.Errorf("%gs job: error at %gs (%s) below the finer %gs (%s)", rows[i].length, rows[i].interval, pct(rows[i].oursMean), rows[i-1].interval, pct(rows[i-1].oursMean))
		}
	}
}

func pct(x float64) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case x < 1e-4:
		return fmt.Sprintf("%.4f%%", 100*x)
	default:
		return fmt.Sprintf("%.2f%%", 100*x)
	}
}
