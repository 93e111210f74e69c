package bmcq

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/cli"
	"github.com/bmc-sched/bmc/job"
)

type acctFlags struct {
	jobs, users, accounts, states []string
	start, end                    string
	format                        string
	csv, compare, plot, quota     bool
	balance, samples, recompute   bool
	by, svg                       string
}

func newAcctCommand(env cli.Env, q *qFlags) *cobra.Command {
	var f acctFlags
	cmd := &cobra.Command{
		Use:   "acct",
		Short: "Energy accounting, like sacct: joules per phase and cost",
		Long: `bmcq acct lists billed jobs with the energy of their boot, run and power-off
phases and its cost; jobs on a powered node show their energy so far. Filters combine; times are RFC 3339, "2006-01-02",
"2006-01-02T15:04" (local time), "now" or "now-2h".

Fields for --format: ` + strings.Join(acctFieldNames, ",") + `

--by sums per arch, kind, image, user, meter or account. The Meter column
names where each job's energy came from (bmc-sdr, dcmi, redfish-counter,
redfish-watts, rapl-inband, model); "!" marks self-reported in-band energy,
billed at least the kind's idle floor, "?" an implausible counter billed
the floor. Credited energy (a failure of the node or the controller) is
not in Cost. --balance prints, per node, the metered energy and where it
went: billed to jobs, unbilled by reason, and standby while off.
-j ID --samples prints the job's kept power readings (compacted, every
window's energy unchanged; kept for bmcctld's --sample-retention), and
-j ID --recompute bills the job again from them, beside the ledger. --compare shows, for each
application (image digest, or image reference without one, and command),
per machine kind: the completed runs, mean joules, mean run time, the
energy-delay product (mean joules x mean run seconds) and mean cost, and
marks the kind cheapest in joules and the one cheapest in money. -j ID --plot draws the job's
power curve; --svg FILE writes it as an SVG chart.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAcct(cmd, env, q, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVarP(&f.jobs, "jobs", "j", nil, "only these job ids")
	fl.StringSliceVarP(&f.users, "user", "u", nil, "only these users' jobs")
	fl.StringSliceVarP(&f.accounts, "account", "A", nil, "only these accounts")
	fl.StringSliceVarP(&f.states, "state", "s", nil, "only jobs now in these states (e.g. CD,F)")
	fl.StringVarP(&f.start, "starttime", "S", "", "only jobs powered until at least this time")
	fl.StringVarP(&f.end, "endtime", "E", "", "only jobs powered on by this time")
	fl.StringVarP(&f.format, "format", "o", DefaultAcctFormat, "comma-separated fields to print")
	fl.BoolVar(&f.csv, "csv", false, "print CSV (header line, no totals)")
	fl.StringVar(&f.by, "by", "", "sum per arch, kind, image, user, meter or account")
	fl.BoolVar(&f.samples, "samples", false, "print the kept power readings of the one job given with -j")
	fl.BoolVar(&f.recompute, "recompute", false, "recompute the bill of the one job given with -j from its kept readings and show any difference")
	fl.BoolVar(&f.balance, "balance", false, "each node's energy: metered = billed + unbilled (by reason) + standby, over -S/-E")
	fl.BoolVar(&f.compare, "compare", false, "compare machine kinds for each image and command (completed jobs)")
	fl.BoolVar(&f.plot, "plot", false, "draw the power curve of the one job given with -j")
	fl.StringVar(&f.svg, "svg", "", "write the power curve of the one job given with -j to this SVG file")
	fl.BoolVar(&f.quota, "quota", false, "energy limits: limit, used, reserved by running jobs, left, and when each resets")
	cmd.AddCommand(newStatementCommand(env, q))
	return cmd
}

func runAcct(cmd *cobra.Command, env cli.Env, q *qFlags, f *acctFlags) error {
	ctx := cmd.Context()
	c := client(env, q.socket)
	if f.plot || f.svg != "" {
		return plotJob(ctx, env, c, f)
	}
	if f.samples || f.recompute {
		return disputeJob(ctx, env, c, f, q.json)
	}
	if f.quota {
		l, err := c.Quota(ctx)
		if err != nil {
			return err
		}
		if q.json {
			return writeJSON(env.Stdout, l)
		}
		return RenderQuota(env.Stdout, l.Quotas)
	}
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	filter := api.AcctFilter{IDs: f.jobs, Users: f.users, Accounts: f.accounts, States: f.states}
	var err error
	if filter.Start, err = parseWhen(f.start, now()); err != nil {
		return fmt.Errorf("--starttime: %w", err)
	}
	if filter.End, err = parseWhen(f.end, now()); err != nil {
		return fmt.Errorf("--endtime: %w", err)
	}
	if f.balance {
		b, err := c.Balance(ctx, filter.Start, filter.End)
		if err != nil {
			return err
		}
		if q.json {
			return writeJSON(env.Stdout, b)
		}
		return RenderBalance(env.Stdout, b)
	}
	list, err := c.Acct(ctx, filter)
	if err != nil {
		return err
	}
	switch {
	case f.compare:
		rows := accounting.Compare(usage(list.Jobs))
		if q.json {
			return writeJSON(env.Stdout, rows)
		}
		return RenderCompare(env.Stdout, rows)
	case f.by != "":
		groups, err := accounting.GroupBy(usage(list.Jobs), f.by)
		if errors.Is(err, accounting.ErrGroupKey) {
			return fmt.Errorf("--by %q: want %s or %s", f.by, strings.Join(accounting.GroupKeys[:len(accounting.GroupKeys)-1], ", "),
				accounting.GroupKeys[len(accounting.GroupKeys)-1])
		}
		if err != nil {
			return err
		}
		if q.json {
			return writeJSON(env.Stdout, groups)
		}
		return RenderGroups(env.Stdout, f.by, groups, list.Currency)
	case q.json:
		return writeJSON(env.Stdout, struct {
			api.AcctList
			Totals accounting.Totals `json:"totals"`
		}{list, accounting.SumJobs(usage(list.Jobs))})
	case f.csv:
		return RenderAcctCSV(env.Stdout, list.Jobs, f.format)
	}
	return RenderAcct(env.Stdout, list.Jobs, f.format, list.Currency)
}

// usage is what accounting needs of the billed jobs the daemon sent.
func usage(jobs []api.AcctJob) []accounting.JobUsage {
	out := make([]accounting.JobUsage, len(jobs))
	for i := range jobs {
		j := &jobs[i]
		out[i] = accounting.JobUsage{JobID: j.JobID, User: j.User, Account: j.Account, Completed: j.State == job.Completed,
			Arch: j.Arch, Kind: j.Kind, Image: j.Image, Command: j.Command, Meter: j.Meter, Elapsed: j.Elapsed, RunSeconds: j.RunSeconds,
			EnergyJoules: j.EnergyJoules, BootJoules: j.BootJoules, RunJoules: j.RunJoules, OffJoules: j.OffJoules,
			Cost: j.Cost, EnergyEstimated: j.EnergyEstimated}
	}
	return out
}
