package bmcq

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
)

// RenderAcct prints the sacct-like table, a totals line, and why each
// estimated bill is estimated.
func RenderAcct(w io.Writer, jobs []api.AcctJob, format, currency string) error {
	names, fields, err := parseFormat(format)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(names, "\t")))
	sim := false
	for i := range jobs {
		row := make([]string, len(fields))
		for k, fd := range fields {
			row[k] = fd.get(&jobs[i])
		}
		sim = sim || jobs[i].Simulated
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	sum := accounting.SumJobs(usage(jobs))
	tot := make([]string, len(fields))
	for k, fd := range fields {
		switch {
		case k == 0:
			tot[k] = fmt.Sprintf("TOTAL(%d)", len(jobs))
		case fd.total != nil:
			tot[k] = fd.fmt(fd.total(&sum))
		}
	}
	fmt.Fprintln(tw, strings.Join(tot, "\t"))
	if err := tw.Flush(); err != nil {
		return err
	}
	if currency != "" {
		fmt.Fprintf(w, "cost in %s\n", currency)
	}
	for _, j := range jobs {
		if !j.EnergyEstimated {
			continue
		}
		fmt.Fprintf(w, "job %s energy estimated:\n", j.JobID)
		for i, r := range j.Reasons {
			if i == 3 {
				fmt.Fprintf(w, "  … and %d more\n", len(j.Reasons)-3)
				break
			}
			fmt.Fprintf(w, "  %s\n", r)
		}
	}
	for _, j := range jobs {
		if j.Live {
			fmt.Fprintln(w, "jobs still on a powered node show their energy so far; the ledger bills them when they end")
			break
		}
	}
	if sim {
		fmt.Fprintln(w, "* simulated machine (power/sim): model watts, not measurements")
	}
	return nil
}

// RenderAcctCSV prints the same fields as CSV with full precision.
func RenderAcctCSV(w io.Writer, jobs []api.AcctJob, format string) error {
	names, fields, err := parseFormat(format)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.Write(names)
	for i := range jobs {
		row := make([]string, len(fields))
		for k, fd := range fields {
			row[k] = fd.get(&jobs[i])
			if fd.value != nil && names[k] != "Elapsed" && names[k] != "RunTime" {
				row[k] = strconv.FormatFloat(fd.value(&jobs[i]), 'g', -1, 64)
			}
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}
