package bmcq

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/bmc-sched/bmc/accounting"
)

// RenderCompare prints --compare: per application, its kinds from the
// least energy to the most, and which is cheapest in joules and in money.
func RenderCompare(w io.Writer, rows []accounting.CompareRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tCOMMAND\tKIND\tARCH\tRUNS\tMEAN_J\tMEAN_RUN_J\tMEAN_RUNTIME\tEDP_JS\tMEAN_COST\tVS_BEST\tCHEAPEST\tEST")
	for _, r := range rows {
		var cheapest []string
		if r.CheapestJoules {
			cheapest = append(cheapest, "joules")
		}
		if r.CheapestMoney {
			cheapest = append(cheapest, "money")
		}
		row(tw, shortImage(r.Image), trunc(r.Command, 30), r.Kind, r.Arch, strconv.Itoa(r.Runs),
			joules(r.MeanJoules), joules(r.MeanRunJ), fmtDuration(r.MeanRunSecs), fmt.Sprintf("%.0f", r.EDP), money(r.MeanCost),
			fmt.Sprintf("%.2fx", r.Relative), orDash(strings.Join(cheapest, ",")), strconv.Itoa(r.Estimated))
	}
	return tw.Flush()
}

// shortImage cuts a digest in a reference to 12 hex digits, as docker does.
func shortImage(ref string) string {
	name, d, ok := strings.Cut(ref, "@")
	if !ok {
		return ref
	}
	if algo, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return name + "@" + algo + ":" + hex[:12]
	}
	return ref
}
