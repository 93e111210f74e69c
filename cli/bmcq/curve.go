package bmcq

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/api"
)

// RenderCurve draws each boot's power curve in the terminal: one column per
// time slot, the mean watts of the slot as a bar, and the phases below
// (b boot, r run, o power off).
func RenderCurve(w io.Writer, cv api.PowerCurve, width, height int) error {
	for _, b := range cv.Boots {
		if len(b.Points) == 0 {
			line(w, "job %d boot %d on %s: no samples", cv.Job, b.Boot, b.Node)
			continue
		}
		t0, t1 := b.PowerOn, b.Off
		if t1.Sub(t0) <= 0 {
			t0, t1 = b.Points[0].Time, b.Points[len(b.Points)-1].Time
		}
		span := t1.Sub(t0)
		if span <= 0 {
			span = time.Second
		}
		col := make([]float64, width)
		for i := range col {
			at := t0.Add(time.Duration(float64(span) * (float64(i) + 0.5) / float64(width)))
			col[i] = wattsAt(b.Points, at)
		}
		top := 0.0
		for _, v := range col {
			top = max(top, v)
		}
		top = niceCeil(top)
		line(w, "job %d boot %d on %s: %s, peak %.0f W", cv.Job, b.Boot, b.Node, fmtDuration(span.Seconds()), maxWatts(b.Points))
		for row := height; row >= 1; row-- {
			label := "      "
			if row == height {
				label = fmt.Sprintf("%4.0fW ", top)
			} else if row == (height+1)/2 {
				label = fmt.Sprintf("%4.0fW ", top/2)
			}
			var line strings.Builder
			line.WriteString(label + "|")
			for _, v := range col {
				if top > 0 && v/top*float64(height) >= float64(row)-0.5 {
					line.WriteByte('#')
				} else {
					line.WriteByte(' ')
				}
			}
			fmt.Fprintln(w, strings.TrimRight(line.String(), " "))
		}
		fmt.Fprintf(w, "   0W +%s\n", strings.Repeat("-", width))
		var ph strings.Builder
		for i := range col {
			at := t0.Add(time.Duration(float64(span) * (float64(i) + 0.5) / float64(width)))
			switch {
			case at.Before(b.RunStart):
				ph.WriteByte('b')
			case at.Before(b.RunEnd):
				ph.WriteByte('r')
			default:
				ph.WriteByte('o')
			}
		}
		fmt.Fprintf(w, "phase  %s\n", ph.String())
		fmt.Fprintf(w, "       0%s%s\n", strings.Repeat(" ", max(width-1-len(fmtDuration(span.Seconds())), 1)), fmtDuration(span.Seconds()))
	}
	return nil
}

func maxWatts(ps []api.CurvePoint) float64 {
	m := 0.0
	for _, p := range ps {
		m = max(m, p.Watts)
	}
	return m
}

// wattsAt interpolates the curve linearly at t, holding the ends.
func wattsAt(ps []api.CurvePoint, t time.Time) float64 {
	i, _ := slices.BinarySearchFunc(ps, t, func(p api.CurvePoint, t time.Time) int { return p.Time.Compare(t) })
	switch {
	case i == 0:
		return ps[0].Watts
	case i >= len(ps):
		return ps[len(ps)-1].Watts
	}
	a, b := ps[i-1], ps[i]
	d := b.Time.Sub(a.Time).Seconds()
	if d <= 0 {
		return b.Watts
	}
	return a.Watts + (b.Watts-a.Watts)*t.Sub(a.Time).Seconds()/d
}

// niceCeil rounds a peak up to a round number of watts for the axis.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
