package bmcq

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/cli"
)

func newStatementCommand(env cli.Env, q *qFlags) *cobra.Command {
	var account, period, start, end string
	var asCSV bool
	cmd := &cobra.Command{
		Use:   "statement --account A (--period 2026-11 | -S START -E END)",
		Short: "One account's bill for a period: per user and per job, cut at the period's edges",
		Long: `bmcq acct statement prints an account's bill for a period (with the accounts
below it): per user and per job the joules used inside the period (a job that
spans an edge is cut there by its power curve, never counted whole in two
periods), their cost by tariff window at the prices in force when the energy
was used, their grams of CO2e, totals, energy credited to users, and the
cluster's energy that no job was billed for, shown apart. --period takes a
month (2026-11), a day or a year, read in the site's time zone. Admins and the
account's coordinators see every user; others see their own jobs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if account == "" {
				return fmt.Errorf("--account is required")
			}
			now := time.Now
			if env.Now != nil {
				now = env.Now
			}
			sq := api.StatementQuery{Account: account, Period: period}
			var err error
			if sq.Start, err = parseWhen(start, now()); err != nil {
				return fmt.Errorf("--starttime: %w", err)
			}
			if sq.End, err = parseWhen(end, now()); err != nil {
				return fmt.Errorf("--endtime: %w", err)
			}
			st, err := client(env, q.socket).Statement(cmd.Context(), sq)
			if err != nil {
				return err
			}
			switch {
			case q.json:
				return writeJSON(env.Stdout, st)
			case asCSV:
				return RenderStatementCSV(env.Stdout, st)
			}
			return RenderStatement(env.Stdout, st)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&account, "account", "A", "", "the account")
	fl.StringVar(&period, "period", "", "a month (2026-11), a day (2026-11-25) or a year, in the site's zone")
	fl.StringVarP(&start, "starttime", "S", "", "the period's start (instead of --period)")
	fl.StringVarP(&end, "endtime", "E", "", "the period's end (instead of --period)")
	fl.BoolVar(&asCSV, "csv", false, "print CSV: one line per job")
	return cmd
}

func stamp(t time.Time) string { return t.Format("2006-01-02 15:04 -07:00") }

// tariffList shows a job's period energy by tariff window.
func tariffList(ts []api.StatementTariff) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, fmt.Sprintf("%s %s @%g", t.Tariff, fmtEnergy(t.Joules), t.PricePerKWh))
	}
	return strings.Join(parts, " + ")
}

func notes(j api.StatementJob) string {
	var n []string
	if j.Split {
		n = append(n, "split at the period's edge by its "+j.SplitBy)
	}
	if j.CreditedJoules > 0 {
		n = append(n, "credited "+fmtEnergy(j.CreditedJoules))
	}
	if j.Estimated {
		n = append(n, "energy estimated")
	}
	return strings.Join(n, "; ")
}

// RenderStatement prints a statement: a line per job, a subtotal per user,
// the total, credits and the cluster's unbilled energy.
func RenderStatement(w io.Writer, st api.Statement) error {
	if st.Currency != "" {
		line(w, "Statement of account %s from %s to %s, costs in %s", st.Account, stamp(st.From), stamp(st.To), st.Currency)
	} else {
		line(w, "Statement of account %s from %s to %s", st.Account, stamp(st.From), stamp(st.To))
	}
	if st.Partial {
		fmt.Fprintln(w, "(your jobs only: the account's coordinators and admins see every user's)")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tJOBID\tNAME\tENERGY\tJOULES\tCOST\tCO2E_G\tTARIFFS\tNOTE")
	total := func(label string, t api.StatementTotals) {
		row(tw, label, fmt.Sprintf("TOTAL(%d)", t.Jobs), "", fmtEnergy(t.Joules), joules(t.Joules), money(t.Cost), joules(t.CarbonGrams), "", "")
	}
	for _, u := range st.Users {
		for _, j := range u.Jobs {
			row(tw, u.User, j.JobID, trunc(j.Name, 20), fmtEnergy(j.Joules), joules(j.Joules),
				money(j.Cost), joules(j.CarbonGrams), orDash(tariffList(j.Tariffs)), notes(j))
		}
		if len(st.Users) > 1 {
			total(u.User, u.Totals)
		}
	}
	total("ALL", st.Totals)
	if err := tw.Flush(); err != nil {
		return err
	}
	if st.Totals.CreditedJoules > 0 {
		fmt.Fprintf(w, "credited, not charged: %s, %s (boots that failed through the node or the controller)\n",
			fmtEnergy(st.Totals.CreditedJoules), money(st.Totals.CreditedCost))
	}
	if st.Unbilled == nil {
		fmt.Fprintln(w, "cluster energy billed to no job in the period: not recorded")
	} else {
		fmt.Fprintf(w, "cluster energy billed to no job in the period: %s\n", fmtEnergy(st.Unbilled.Joules))
	}
	return nil
}

// RenderStatementCSV prints one line per job with full precision.
func RenderStatementCSV(w io.Writer, st api.Statement) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"user", "job_id", "name", "account", "joules", "kwh", "cost", "carbon_g", "tariffs", "split_by", "credited_joules", "credited_cost", "energy_estimated"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, u := range st.Users {
		for _, j := range u.Jobs {
			cw.Write([]string{u.User, j.JobID, j.Name, j.Account, f(j.Joules), f(j.Joules / accounting.JoulesPerKWh), f(j.Cost), f(j.CarbonGrams),
				tariffList(j.Tariffs), j.SplitBy, f(j.CreditedJoules), f(j.CreditedCost), strconv.FormatBool(j.Estimated)})
		}
	}
	cw.Flush()
	return cw.Error()
}
