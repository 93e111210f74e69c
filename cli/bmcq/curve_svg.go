package bmcq

import (
	"fmt"
	"html"
	"io"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/api"
)

// RenderCurveSVG writes the power curves as one SVG chart: watts over
// seconds since power on, phases shaded, one line per boot.
func RenderCurveSVG(w io.Writer, cv api.PowerCurve) error {
	const W, H, left, right, topM, bottom = 720.0, 320.0, 56.0, 16.0, 28.0, 40.0
	pw, ph := W-left-right, H-topM-bottom
	maxT, maxW := 1.0, 0.0
	for _, b := range cv.Boots {
		maxT = max(maxT, b.Off.Sub(b.PowerOn).Seconds())
		for _, p := range b.Points {
			maxT = max(maxT, p.Time.Sub(b.PowerOn).Seconds())
			maxW = max(maxW, p.Watts)
		}
	}
	maxW = niceCeil(maxW)
	x := func(s float64) float64 { return left + pw*s/maxT }
	y := func(v float64) float64 { return topM + ph*(1-v/maxW) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<text x="%.0f" y="16" font-size="13">job %d: power (W) over seconds since power on</text>`+"\n", left, cv.Job)
	colors := map[string]string{"boot": "#fde8c8", "run": "#d6ecd2", "off": "#dde3f0"}
	if len(cv.Boots) > 0 {
		bt := cv.Boots[len(cv.Boots)-1]
		for _, p := range []struct {
			name     string
			from, to time.Time
		}{{"boot", bt.PowerOn, bt.RunStart}, {"run", bt.RunStart, bt.RunEnd}, {"off", bt.RunEnd, bt.Off}} {
			a, z := p.from.Sub(bt.PowerOn).Seconds(), p.to.Sub(bt.PowerOn).Seconds()
			if z <= a {
				continue
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x(a), topM, x(z)-x(a), ph, colors[p.name])
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#555">%s</text>`+"\n", x(a)+3, topM+12, p.name)
		}
	}
	for i := 0; i <= 4; i++ {
		v := maxW * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ccc"/>`+"\n", left, left+pw, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%g</text>`+"\n", left-4, y(v)+4, v)
		s := maxT * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`+"\n", x(s), topM+ph+16, s)
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", left, topM, pw, ph)
	lines := []string{"#c0392b", "#2c3e50", "#8e44ad", "#16a085"}
	for i, bt := range cv.Boots {
		var pts []string
		for _, p := range bt.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.Time.Sub(bt.PowerOn).Seconds()), y(p.Watts)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", lines[i%len(lines)], strings.Join(pts, " "))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s" text-anchor="end">boot %d on %s</text>`+"\n", left+pw-4, topM+14+14*float64(i), lines[i%len(lines)], bt.Boot, html.EscapeString(bt.Node))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">seconds</text>`+"\n", left+pw/2, H-6)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
