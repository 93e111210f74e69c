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
	for i := range names {
		names[i] = strings.ToUpper(names[i])
	}
	row(tw, names...)
	sim := false
	for i := range jobs {
		cells := make([]string, len(fields))
		for k, fd := range fields {
			cells[k] = fd.get(&jobs[i])
		}
		sim = sim || jobs[i].Simulated
		row(tw, cells...)
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
	row(tw, tot...)
	if err := tw.Flush(); err != nil {
		return err
	}
	if currency != "" {
		line(w, "cost in %s", currency)
	}
	for _, j := range jobs {
		if !j.EnergyEstimated {
			continue
		}
		line(w, "job %s energy estimated:", j.JobID)
		for i, r := range j.Reasons {
			if i == 3 {
				line(w, "  … and %d more", len(j.Reasons)-3)
				break
			}
			line(w, "  %s", r)
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
