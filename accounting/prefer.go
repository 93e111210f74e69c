package accounting

import (
	"fmt"
	"strconv"
	"strings"
)

// KindsByApp regroups the advice rows (Compare) by application: the means
// that place arch = "any" jobs, each application's machine kinds from the
// fewest mean joules per completed run to the most, as Compare orders them.
// Rows without a kind name no kind to prefer and are left out.
func KindsByApp(rows []CompareRow) map[[2]string][]CompareRow {
	out := map[[2]string][]CompareRow{}
	for _, r := range rows {
		if r.Kind == "" {
			continue
		}
		app := AppKey(r.Image, r.Command)
		out[app] = append(out[app], r)
	}
	return out
}

// PreferReason says why the first kind is preferred, against the
// runner-up; ks holds at least two kinds of one application, best first.
func PreferReason(ks []CompareRow) string {
	best, next := ks[0], ks[1]
	runs := "1 run"
	if best.Runs != 1 {
		runs = strconv.Itoa(best.Runs) + " runs"
	}
	return fmt.Sprintf("energy: %s used %s J on average for this image and command (%s) vs %s J on %s",
		best.Kind, thousands(best.MeanJoules), runs, thousands(next.MeanJoules), next.Kind)
}

// thousands prints whole joules with comma separators: 12,345.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
