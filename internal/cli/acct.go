package cli

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/api"
)

type acctFlags struct {
	jobs, users, accounts, states []string
	start, end                    string
	format                        string
	csv, compare, plot            bool
	by, svg                       string
}

// DefaultAcctFormat is the field list bmcq acct prints without --format.
const DefaultAcctFormat = "JobID,JobName,User,Account,State,Node,Kind,Elapsed,BootJ,RunJ,OffJ,EnergyJ,Cost,Est"

// acctField is one column of bmcq acct: its value for a job and whether
// the totals line sums it.
type acctField struct {
	get func(j *api.AcctJob) string
	sum func(j *api.AcctJob) float64 // nil: not summed
	fmt func(v float64) string
}

// summed is a column whose cell and total print the same number the same way.
func summed(v func(j *api.AcctJob) float64, f func(float64) string) acctField {
	return acctField{get: func(j *api.AcctJob) string { return f(v(j)) }, sum: v, fmt: f}
}

func joules(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func money(v float64) string  { return strconv.FormatFloat(v, 'f', 4, 64) }

var acctFields = map[string]acctField{
	"jobid":   {get: func(j *api.AcctJob) string { return j.JobID }},
	"jobname": {get: func(j *api.AcctJob) string { return trunc(j.Name, 20) }},
	"user":    {get: func(j *api.AcctJob) string { return j.User }},
	"account": {get: func(j *api.AcctJob) string { return orDash(j.Account) }},
	"state":   {get: func(j *api.AcctJob) string { return string(j.State) }},
	"node": {get: func(j *api.AcctJob) string {
		if j.Simulated {
			return j.Node + "*"
		}
		return j.Node
	}},
	"arch":    {get: func(j *api.AcctJob) string { return j.Arch }},
	"kind":    {get: func(j *api.AcctJob) string { return j.Kind }},
	"image":   {get: func(j *api.AcctJob) string { return j.Image }},
	"command": {get: func(j *api.AcctJob) string { return trunc(j.Command, 30) }},
	"boots":   {get: func(j *api.AcctJob) string { return strconv.Itoa(j.Boots) }},
	"start":   {get: func(j *api.AcctJob) string { return ts(j.Start) }},
	"end":     {get: func(j *api.AcctJob) string { return ts(j.End) }},
	"elapsed": summed(func(j *api.AcctJob) float64 { return j.Elapsed }, fmtDuration),
	"runtime": summed(func(j *api.AcctJob) float64 { return j.RunSeconds }, fmtDuration),
	"bootj":   summed(func(j *api.AcctJob) float64 { return j.BootJoules }, joules),
	"runj":    summed(func(j *api.AcctJob) float64 { return j.RunJoules }, joules),
	"offj":    summed(func(j *api.AcctJob) float64 { return j.OffJoules }, joules),
	"energyj": summed(func(j *api.AcctJob) float64 { return j.EnergyJoules }, joules),
	"kwh": {get: func(j *api.AcctJob) string { return strconv.FormatFloat(j.EnergyJoules/3.6e6, 'f', 6, 64) },
		sum: func(j *api.AcctJob) float64 { return j.EnergyJoules / 3.6e6 }, fmt: func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }},
	"avgw": {get: func(j *api.AcctJob) string {
		if j.Elapsed <= 0 {
			return "-"
		}
		return strconv.FormatFloat(j.EnergyJoules/j.Elapsed, 'f', 1, 64)
	}},
	"cost": summed(func(j *api.AcctJob) float64 { return j.Cost }, money),
	"est": {get: func(j *api.AcctJob) string {
		if j.EnergyEstimated {
			return "yes"
		}
		return "no"
	}},
}

// acctFieldNames lists the fields in the order help shows them.
var acctFieldNames = []string{"JobID", "JobName", "User", "Account", "State", "Node", "Arch", "Kind", "Image", "Command",
	"Boots", "Start", "End", "Elapsed", "RunTime", "BootJ", "RunJ", "OffJ", "EnergyJ", "kWh", "AvgW", "Cost", "Est"}

func newAcctCommand(env Env, q *qFlags) *cobra.Command {
	var f acctFlags
	cmd := &cobra.Command{
		Use:   "acct",
		Short: "Energy accounting, like sacct: joules per phase and cost",
		Long: `bmcq acct lists billed jobs with the energy of their boot, run and power-off
phases and its cost; jobs on a powered node show their energy so far. Filters combine; times are RFC 3339, "2006-01-02",
"2006-01-02T15:04" (local time), "now" or "now-2h".

Fields for --format: ` + strings.Join(acctFieldNames, ",") + `

--by sums per arch, kind, image, user or account. --compare shows, for each
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
	fl.StringVar(&f.by, "by", "", "sum per arch, kind, image, user or account")
	fl.BoolVar(&f.compare, "compare", false, "compare machine kinds for each image and command (completed jobs)")
	fl.BoolVar(&f.plot, "plot", false, "draw the power curve of the one job given with -j")
	fl.StringVar(&f.svg, "svg", "", "write the power curve of the one job given with -j to this SVG file")
	return cmd
}

func runAcct(cmd *cobra.Command, env Env, q *qFlags, f *acctFlags) error {
	ctx := cmd.Context()
	c := client(env, q.socket)
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	if f.plot || f.svg != "" {
		if len(f.jobs) != 1 {
			return fmt.Errorf("--plot and --svg draw one job: give exactly one -j ID")
		}
		id, err := strconv.ParseUint(strings.SplitN(f.jobs[0], "_", 2)[0], 10, 64)
		if err != nil {
			return fmt.Errorf("-j %q is not a job id", f.jobs[0])
		}
		cv, err := c.Curve(ctx, id)
		if err != nil {
			return err
		}
		if f.svg != "" {
			var b strings.Builder
			if err := RenderCurveSVG(&b, cv); err != nil {
				return err
			}
			if err := writeFileAtomic(f.svg, []byte(b.String())); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "wrote %s\n", f.svg)
		}
		if f.plot {
			return RenderCurve(env.Stdout, cv, 72, 14)
		}
		return nil
	}
	filter := api.AcctFilter{IDs: f.jobs, Users: f.users, Accounts: f.accounts, States: f.states}
	var err error
	if filter.Start, err = parseWhen(f.start, now()); err != nil {
		return fmt.Errorf("--starttime: %w", err)
	}
	if filter.End, err = parseWhen(f.end, now()); err != nil {
		return fmt.Errorf("--endtime: %w", err)
	}
	list, err := c.Acct(ctx, filter)
	if err != nil {
		return err
	}
	switch {
	case f.compare:
		rows := Compare(list.Jobs)
		if q.json {
			return writeJSON(env.Stdout, rows)
		}
		return RenderCompare(env.Stdout, rows)
	case f.by != "":
		groups, err := GroupAcct(list.Jobs, f.by)
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
			Totals AcctTotals `json:"totals"`
		}{list, totals(list.Jobs)})
	case f.csv:
		return RenderAcctCSV(env.Stdout, list.Jobs, f.format)
	}
	return RenderAcct(env.Stdout, list.Jobs, f.format, list.Currency)
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// parseWhen reads a time given on the command line; "" is no bound.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if s == "now" {
		return now, nil
	}
	if rest, ok := strings.CutPrefix(s, "now-"); ok {
		d, err := time.ParseDuration(rest)
		if err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("%q: want now-DURATION, e.g. now-2h", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339, 2006-01-02[T15:04[:05]], now, now-2h)", s)
}

func parseFormat(format string) ([]string, []acctField, error) {
	var names []string
	var fields []acctField
	for _, n := range strings.Split(format, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		fd, ok := acctFields[strings.ToLower(n)]
		if !ok {
			return nil, nil, fmt.Errorf("--format: unknown field %q (fields: %s)", n, strings.Join(acctFieldNames, ","))
		}
		names = append(names, canonicalField(n))
		fields = append(fields, fd)
	}
	if len(fields) == 0 {
		return nil, nil, fmt.Errorf("--format: no fields")
	}
	return names, fields, nil
}

func canonicalField(n string) string {
	for _, c := range acctFieldNames {
		if strings.EqualFold(c, n) {
			return c
		}
	}
	return n
}

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
	tot := make([]string, len(fields))
	for k, fd := range fields {
		switch {
		case k == 0:
			tot[k] = fmt.Sprintf("TOTAL(%d)", len(jobs))
		case fd.sum != nil:
			s := 0.0
			for i := range jobs {
				s += fd.sum(&jobs[i])
			}
			tot[k] = fd.fmt(s)
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
			if fd.sum != nil && fd.fmt != nil && names[k] != "Elapsed" && names[k] != "RunTime" {
				row[k] = strconv.FormatFloat(fd.sum(&jobs[i]), 'g', -1, 64)
			}
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// AcctTotals sums a set of billed jobs.
type AcctTotals struct {
	Jobs         int     `json:"jobs"`
	EnergyJoules float64 `json:"energy_joules"`
	BootJoules   float64 `json:"boot_joules"`
	RunJoules    float64 `json:"run_joules"`
	OffJoules    float64 `json:"off_joules"`
	Elapsed      float64 `json:"elapsed_seconds"`
	RunSeconds   float64 `json:"run_seconds"`
	Cost         float64 `json:"cost"`
	Estimated    int     `json:"energy_estimated_jobs"`
}

func totals(jobs []api.AcctJob) AcctTotals {
	var t AcctTotals
	for _, j := range jobs {
		t.Jobs++
		t.EnergyJoules += j.EnergyJoules
		t.BootJoules += j.BootJoules
		t.RunJoules += j.RunJoules
		t.OffJoules += j.OffJoules
		t.Elapsed += j.Elapsed
		t.RunSeconds += j.RunSeconds
		t.Cost += j.Cost
		if j.EnergyEstimated {
			t.Estimated++
		}
	}
	return t
}

// AcctGroup is one line of --by.
type AcctGroup struct {
	Key string `json:"key"`
	AcctTotals
}

// GroupAcct sums jobs per arch, kind, image, user or account.
func GroupAcct(jobs []api.AcctJob, by string) ([]AcctGroup, error) {
	key := map[string]func(j *api.AcctJob) string{
		"arch":    func(j *api.AcctJob) string { return j.Arch },
		"kind":    func(j *api.AcctJob) string { return j.Kind },
		"image":   func(j *api.AcctJob) string { return j.Image },
		"user":    func(j *api.AcctJob) string { return j.User },
		"account": func(j *api.AcctJob) string { return j.Account },
	}[strings.ToLower(by)]
	if key == nil {
		return nil, fmt.Errorf("--by %q: want arch, kind, image, user or account", by)
	}
	idx := map[string]int{}
	var groups []AcctGroup
	buckets := map[string][]api.AcctJob{}
	for i := range jobs {
		k := key(&jobs[i])
		if _, ok := idx[k]; !ok {
			idx[k] = len(groups)
			groups = append(groups, AcctGroup{Key: k})
		}
		buckets[k] = append(buckets[k], jobs[i])
	}
	for i := range groups {
		groups[i].AcctTotals = totals(buckets[groups[i].Key])
	}
	slices.SortFunc(groups, func(a, b AcctGroup) int { return cmp.Compare(a.Key, b.Key) })
	return groups, nil
}

// RenderGroups prints --by.
func RenderGroups(w io.Writer, by string, groups []AcctGroup, currency string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tJOBS\tELAPSED\tRUNTIME\tBOOTJ\tRUNJ\tOFFJ\tENERGYJ\tKWH\tCOST\tEST\n", strings.ToUpper(by))
	var all []AcctTotals
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t%s\n", orDash(g.Key), groupCols(g.AcctTotals))
		all = append(all, g.AcctTotals)
	}
	var t AcctTotals
	for _, a := range all {
		t.Jobs += a.Jobs
		t.Elapsed += a.Elapsed
		t.RunSeconds += a.RunSeconds
		t.BootJoules += a.BootJoules
		t.RunJoules += a.RunJoules
		t.OffJoules += a.OffJoules
		t.EnergyJoules += a.EnergyJoules
		t.Cost += a.Cost
		t.Estimated += a.Estimated
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

func groupCols(t AcctTotals) string {
	return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.6f\t%s\t%d", t.Jobs, fmtDuration(t.Elapsed), fmtDuration(t.RunSeconds),
		joules(t.BootJoules), joules(t.RunJoules), joules(t.OffJoules), joules(t.EnergyJoules), t.EnergyJoules/3.6e6, money(t.Cost), t.Estimated)
}

// CompareRow is one machine kind's record for one application (image and
// command) in --compare.
type CompareRow struct {
	Image       string  `json:"image"`
	Command     string  `json:"command"`
	Arch        string  `json:"arch"`
	Kind        string  `json:"kind"`
	Runs        int     `json:"runs"`
	MeanJoules  float64 `json:"mean_joules"`
	MeanRunJ    float64 `json:"mean_run_joules"`
	MeanRunSecs float64 `json:"mean_run_seconds"`
	// EDP is the energy-delay product, MeanJoules × MeanRunSecs: a kind
	// that saves joules by running much longer scores worse here.
	EDP      float64 `json:"edp_joule_seconds"`
	MeanCost float64 `json:"mean_cost"`
	// Relative is MeanJoules over the least of this application's kinds.
	Relative  float64 `json:"relative"`
	Estimated int     `json:"energy_estimated_runs"`
	// CheapestJoules and CheapestMoney mark the application's kind with the
	// least mean joules and the least mean cost (money only when some run
	// was priced; with several kinds, never on a tie with no history to
	// tell them apart).
	CheapestJoules bool `json:"cheapest_joules,omitempty"`
	CheapestMoney  bool `json:"cheapest_money,omitempty"`
}

// appKey names the application of a job for --compare and for placing
// arch = "any" jobs (ctld.appKey is the same rule): the digest its image reference carries (ref@sha256:…,
// an OCI index's digest, the same on every architecture), else the
// reference, and the command. The ledger's image_digest is not used: it is
// the digest of the root filesystem one platform booted, so a multi-platform
// image has one per architecture and could never be compared across them.
func appKey(image, command string) [2]string {
	if _, d, ok := strings.Cut(image, "@"); ok && strings.Contains(d, ":") {
		return [2]string{d, command}
	}
	return [2]string{image, command}
}

// Compare groups completed jobs by application (AppKey: the image
// reference's digest, or the reference without one, and command), then by machine kind. Failed runs
// are left out: their energy says nothing of the application's needs.
func Compare(jobs []api.AcctJob) []CompareRow {
	type key struct {
		app        [2]string
		arch, kind string
	}
	acc := map[key]*CompareRow{}
	var keys []key
	for _, j := range jobs {
		if j.State != "COMPLETED" {
			continue
		}
		k := key{appKey(j.Image, j.Command), j.Arch, j.Kind}
		r, ok := acc[k]
		if !ok {
			r = &CompareRow{Image: j.Image, Command: j.Command, Arch: j.Arch, Kind: j.Kind}
			acc[k] = r
			keys = append(keys, k)
		}
		r.Runs++
		r.MeanJoules += j.EnergyJoules
		r.MeanRunJ += j.RunJoules
		r.MeanRunSecs += j.RunSeconds
		r.MeanCost += j.Cost
		if j.EnergyEstimated {
			r.Estimated++
		}
	}
	out := make([]CompareRow, 0, len(keys))
	type best struct {
		joules, cost float64
		priced       bool
	}
	bests := map[[2]string]*best{}
	for _, k := range keys {
		r := acc[k]
		n := float64(r.Runs)
		r.MeanJoules /= n
		r.MeanRunJ /= n
		r.MeanRunSecs /= n
		r.MeanCost /= n
		r.EDP = r.MeanJoules * r.MeanRunSecs
		b, ok := bests[k.app]
		if !ok {
			b = &best{joules: r.MeanJoules, cost: r.MeanCost}
			bests[k.app] = b
		}
		b.joules = min(b.joules, r.MeanJoules)
		b.cost = min(b.cost, r.MeanCost)
		b.priced = b.priced || r.MeanCost > 0
		out = append(out, *r)
	}
	for i := range out {
		b := bests[appKey(out[i].Image, out[i].Command)]
		if b.joules > 0 {
			out[i].Relative = out[i].MeanJoules / b.joules
		}
		out[i].CheapestJoules = out[i].MeanJoules == b.joules
		out[i].CheapestMoney = b.priced && out[i].MeanCost == b.cost
	}
	slices.SortFunc(out, func(a, b CompareRow) int {
		ka, kb := appKey(a.Image, a.Command), appKey(b.Image, b.Command)
		return cmp.Or(cmp.Compare(ka[0], kb[0]), cmp.Compare(ka[1], kb[1]),
			cmp.Compare(a.MeanJoules, b.MeanJoules), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

// RenderCompare prints --compare: per application, its kinds from the
// least energy to the most, and which is cheapest in joules and in money.
func RenderCompare(w io.Writer, rows []CompareRow) error {
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%.0f\t%s\t%.2fx\t%s\t%d\n", shortImage(r.Image), trunc(r.Command, 30), r.Kind, r.Arch, r.Runs,
			joules(r.MeanJoules), joules(r.MeanRunJ), fmtDuration(r.MeanRunSecs), r.EDP, money(r.MeanCost), r.Relative,
			orDash(strings.Join(cheapest, ",")), r.Estimated)
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

// RenderCurve draws each boot's power curve in the terminal: one column per
// time slot, the mean watts of the slot as a bar, and the phases below
// (b boot, r run, o power off).
func RenderCurve(w io.Writer, cv api.PowerCurve, width, height int) error {
	for _, b := range cv.Boots {
		if len(b.Points) == 0 {
			fmt.Fprintf(w, "job %d boot %d on %s: no samples\n", cv.Job, b.Boot, b.Node)
			continue
		}
		t0, t1 := b.PowerOn, b.Off
		if t1.Sub(t0) <= 0 {
			t0, t1 = b.Points[0].Time, b.Points[len(b.Points)-1].Time
		}
		span := t1.Sub(t0)
		if span <= 0 {
			span = time.Second
		}
		col := make([]float64, width)
		for i := range col {
			at := t0.Add(time.Duration(float64(span) * (float64(i) + 0.5) / float64(width)))
			col[i] = wattsAt(b.Points, at)
		}
		top := 0.0
		for _, v := range col {
			top = max(top, v)
		}
		top = niceCeil(top)
		fmt.Fprintf(w, "job %d boot %d on %s: %s, peak %.0f W\n", cv.Job, b.Boot, b.Node, fmtDuration(span.Seconds()), maxWatts(b.Points))
		for row := height; row >= 1; row-- {
			label := "      "
			if row == height {
				label = fmt.Sprintf("%4.0fW ", top)
			} else if row == (height+1)/2 {
				label = fmt.Sprintf("%4.0fW ", top/2)
			}
			var line strings.Builder
			line.WriteString(label + "|")
			for _, v := range col {
				if top > 0 && v/top*float64(height) >= float64(row)-0.5 {
					line.WriteByte('#')
				} else {
					line.WriteByte(' ')
				}
			}
			fmt.Fprintln(w, strings.TrimRight(line.String(), " "))
		}
		fmt.Fprintf(w, "   0W +%s\n", strings.Repeat("-", width))
		var ph strings.Builder
		for i := range col {
			at := t0.Add(time.Duration(float64(span) * (float64(i) + 0.5) / float64(width)))
			switch {
			case at.Before(b.RunStart):
				ph.WriteByte('b')
			case at.Before(b.RunEnd):
				ph.WriteByte('r')
			default:
				ph.WriteByte('o')
			}
		}
		fmt.Fprintf(w, "phase  %s\n", ph.String())
		fmt.Fprintf(w, "       0%s%s\n", strings.Repeat(" ", max(width-1-len(fmtDuration(span.Seconds())), 1)), fmtDuration(span.Seconds()))
	}
	return nil
}

func maxWatts(ps []api.CurvePoint) float64 {
	m := 0.0
	for _, p := range ps {
		m = max(m, p.Watts)
	}
	return m
}

// wattsAt interpolates the curve linearly at t, holding the ends.
func wattsAt(ps []api.CurvePoint, t time.Time) float64 {
	i, _ := slices.BinarySearchFunc(ps, t, func(p api.CurvePoint, t time.Time) int { return p.Time.Compare(t) })
	switch {
	case i == 0:
		return ps[0].Watts
	case i >= len(ps):
		return ps[len(ps)-1].Watts
	}
	a, b := ps[i-1], ps[i]
	d := b.Time.Sub(a.Time).Seconds()
	if d <= 0 {
		return b.Watts
	}
	return a.Watts + (b.Watts-a.Watts)*t.Sub(a.Time).Seconds()/d
}

// niceCeil rounds a peak up to a round number of watts for the axis.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

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
