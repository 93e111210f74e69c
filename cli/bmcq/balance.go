package bmcq

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/bmc-sched/bmc/api"
)

// RenderBalance prints one row per node: what its meter counted and where
// it went (billed, unbilled by reason, standby), then the total, and the
// period.
func RenderBalance(w io.Writer, b api.Balance) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row(tw, "NODE", "METER", "METERED_J", "BILLED_J", "UNBILLED_J", "STANDBY_J", "LIVE_J", "RESIDUAL", "UNBILLED BY REASON")
	for _, n := range append(slices.Clone(b.Nodes), b.Total) {
		row(tw, n.Node, orDash(n.Meter), joules(n.MeteredJoules), joules(n.BilledJoules), joules(n.UnbilledJoules),
			joules(n.StandbyJoules), joules(n.LiveJoules), residual(n), reasons(n.UnbilledByReason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	from := "the first reading"
	if !b.From.IsZero() {
		from = ts(b.From)
	}
	line(w, "period: %s to %s; metered = billed + unbilled + standby + live + residual", from, ts(b.To))
	if b.Total.Estimated {
		fmt.Fprintln(w, "some of this energy is estimated (a gap in the readings, or the controller down with a watts-only meter)")
	}
	return nil
}

// residual is the part of the metered energy the ledger does not explain,
// as a share of it.
func residual(n api.NodeBalance) string {
	if n.MeteredJoules == 0 {
		return joules(n.ResidualJoules)
	}
	return fmt.Sprintf("%.2f%%", 100*n.ResidualJoules/n.MeteredJoules)
}

func reasons(m map[string]float64) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%s=%s", k, joules(m[k])))
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, " ")
}
