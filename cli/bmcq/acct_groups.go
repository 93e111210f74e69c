package bmcq

import (
	"fmt"
	"io"
	"strconv"
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
		row(tw, append([]string{orDash(g.Key)}, groupCols(g.Totals)...)...)
		t = t.Plus(g.Totals)
	}
	row(tw, append([]string{"TOTAL"}, groupCols(t)...)...)
	if err := tw.Flush(); err != nil {
		return err
	}
	if currency != "" {
		line(w, "cost in %s", currency)
	}
	return nil
}

func groupCols(t accounting.Totals) []string {
	return []string{strconv.Itoa(t.Jobs), fmtDuration(t.Elapsed), fmtDuration(t.RunSeconds),
		joules(t.BootJoules), joules(t.RunJoules), joules(t.OffJoules), joules(t.EnergyJoules), kwh(t.EnergyJoules / accounting.JoulesPerKWh), money(t.Cost), strconv.Itoa(t.Estimated)}
}
