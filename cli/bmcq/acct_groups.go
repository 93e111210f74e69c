package bmcq

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/bmc-sched/bmc/accounting"
)

// RenderGroups prints --by.
func RenderGroups(w io.Writer, by string, groups []accounting.Group, currency string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tJOBS\tELAPSED\tRUNTIME\tBOOTJ\tRUNJ\tOFFJ\tENERGYJ\tKWH\tCOST\tEST\n", strings.ToUpper(by))
	var t accounting.Totals
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t%s\n", orDash(g.Key), groupCols(g.Totals))
		t = t.Plus(g.Totals)
	}
	fmt.Fprintf(tw, "TOTAL\t%s\n", groupCols(t))
	if err := tw.Flush(); err != nil {
		return err
	}
	if currency != "" {
		fmt.Fprintf(w, "cost in %s\n", currency)
	}
	return nil
}

func groupCols(t accounting.Totals) string {
	return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d", t.Jobs, fmtDuration(t.Elapsed), fmtDuration(t.RunSeconds),
		joules(t.BootJoules), joules(t.RunJoules), joules(t.OffJoules), joules(t.EnergyJoules), kwh(t.EnergyJoules/accounting.JoulesPerKWh), money(t.Cost), t.Estimated)
}
