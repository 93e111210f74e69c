package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

type qFlags struct {
	socket string
	json   bool
	users  []string
	states []string
	jobs   []string
	all    bool
}

// NewBmcqCommand builds bmcq and its subcommands.
func NewBmcqCommand(env Env) *cobra.Command {
	var f qFlags
	root := &cobra.Command{
		Use:   "bmcq",
		Short: "Show and manage the bmc queue, nodes and energy accounting",
		Long: `bmcq with no subcommand lists the queue like squeue: unfinished jobs and
those that ended in the last few minutes (--all for every job).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listJobs(cmd.Context(), env, &f, env.Stdout)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&f.socket, "socket", "", "bmcctld socket (default $BMC_SOCKET or "+api.DefaultSocket+")")
	pf.BoolVar(&f.json, "json", false, "print JSON")
	fl := root.Flags()
	fl.StringSliceVarP(&f.users, "user", "u", nil, "only these users' jobs")
	fl.StringSliceVarP(&f.states, "states", "t", nil, "only jobs in these states (e.g. PENDING,RUNNING or PD,R)")
	fl.StringSliceVarP(&f.jobs, "jobs", "j", nil, "only these job ids")
	fl.BoolVarP(&f.all, "all", "a", false, "include jobs that ended long ago")
	root.AddCommand(newShowCommand(env, &f), newWatchCommand(env, &f), newNodesCommand(env, &f), newNodeCommand(env, &f),
		newKernelsCommand(env, &f), newAcctCommand(env, &f))
	for _, a := range []struct{ name, short string }{
		{api.ActionCancel, "Cancel jobs (a booted machine is powered off)"},
		{api.ActionHold, "Hold pending jobs"},
		{api.ActionRelease, "Release held jobs"},
		{api.ActionRequeue, "Put jobs back in the queue"},
	} {
		root.AddCommand(newActionCommand(env, &f, a.name, a.short))
	}
	return root
}

func listJobs(ctx context.Context, env Env, f *qFlags, w io.Writer) error {
	c := client(env, f.socket)
	filter := api.JobFilter{Users: f.users, States: f.states, All: f.all, IDs: f.jobs}
	if f.json {
		return c.JobsTo(ctx, filter, w)
	}
	list, err := c.Jobs(ctx, filter)
	if err != nil {
		return err
	}
	return RenderJobs(w, list.Jobs)
}

// RenderJobs prints the queue table.
func RenderJobs(w io.Writer, jobs []api.JobInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOBID\tNAME\tUSER\tSTATE\tTIME\tNODE\tREASON")
	sim := false
	for _, j := range jobs {
		node := j.Node
		if node == "" {
			node = "-"
		}
		if j.Simulated {
			node += "*"
			sim = true
		}
		reason := j.Reason
		if reason == string(job.ReasonNone) {
			reason = "-"
			if j.State.Final() && j.State != job.Completed {
				reason = shortDetail(j)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.JobID, trunc(j.Name, 20), j.User, j.State,
			fmtDuration(j.Elapsed), node, reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if sim {
		fmt.Fprintln(w, "* simulated machine (power/sim), not hardware")
	}
	return nil
}

func shortDetail(j api.JobInfo) string {
	if j.State == job.Failed {
		return fmt.Sprintf("ExitCode=%d", j.ExitCode)
	}
	if j.Detail == "" {
		return "-"
	}
	return trunc(j.Detail, 60)
}

func trunc(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func newShowCommand(env Env, f *qFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show JOBID",
		Short: "Show one job in detail, with its event log",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := client(env, f.socket).Job(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.json {
				return writeJSON(env.Stdout, d)
			}
			return RenderJob(env.Stdout, d)
		},
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02T15:04:05")
}

// RenderJob prints `bmcq show` like scontrol show job: key=value lines.
func RenderJob(w io.Writer, d api.JobDetail) error {
	s := d.Spec
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	node := d.Node
	if node == "" {
		node = "-"
	}
	if d.Simulated {
		node += " (simulated machine)"
	}
	p("JobId=%s Name=%s", d.JobID, d.Name)
	p("   User=%s Account=%s Partition=%s Priority=%.0f", d.User, orDash(d.Account), d.Partition, d.Priority)
	p("   State=%s Reason=%s ExitCode=%d", d.State, d.Reason, d.ExitCode)
	if d.Detail != "" {
		p("   Detail=%s", d.Detail)
	}
	p("   Node=%s BootAttempts=%d Restarts=%d", node, d.BootAttempts, d.Restarts)
	if d.Why != "" {
		p("   NodeChoice=%s", d.Why)
	}
	p("   SubmitTime=%s StartTime=%s RunTime=%s EndTime=%s", ts(d.SubmitTime), ts(d.StartTime), ts(d.RunTime), ts(d.EndTime))
	p("   TimeLimit=%s Elapsed=%s", fmtDuration(d.TimeLimit), fmtDuration(d.Elapsed))
	p("   Image=%s", s.Image)
	p("   Kernel=%s Initrd=%s", orDefault(s.Kernel), orDefault(s.Initrd))
	if s.Cmdline != "" {
		p("   Cmdline=%s", s.Cmdline)
	}
	cmd := strings.Join(s.Command.Argv, " ")
	if !s.Command.Shell {
		b, _ := json.Marshal(s.Command.Argv)
		cmd = string(b)
	}
	p("   Command=%s", cmd)
	p("   Arch=%s Features=%s Cores=%d Memory=%s Nice=%d", orAny(s.Arch), orDash(strings.Join(s.Features, ",")), s.Cores, fmtBytes(int64(s.Memory)), s.Nice)
	if s.Array != nil {
		p("   Array=%s", s.Array.Text)
	}
	if len(s.DependsOn) > 0 {
		var deps []string
		for _, dep := range s.DependsOn {
			deps = append(deps, dep.String())
		}
		p("   Dependency=%s", strings.Join(deps, ","))
	}
	if len(s.Environment) > 0 {
		keys := make([]string, 0, len(s.Environment))
		for k := range s.Environment {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		p("   Environment=%s", strings.Join(keys, ","))
	}
	p("   WorkDir=%s", orDash(d.Cwd))
	p("   StdOut=%s", d.Output)
	if d.Error != d.Output {
		p("   StdErr=%s", d.Error)
	}
	if s.Sim != nil {
		p("   Sim=runtime %s, load %.2f, exit %d (read only by simulated machines)", s.Sim.Runtime, s.Sim.Load, s.Sim.ExitCode)
	}
	p("Events:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range d.Events {
		line := "   " + ts(e.Time) + "\t" + string(e.State)
		if e.Reason != "" && e.Reason != job.ReasonNone {
			line += "\t" + string(e.Reason)
		} else {
			line += "\t"
		}
		line += "\t" + e.Node + "\t" + e.Detail
		fmt.Fprintln(tw, strings.TrimRight(line, "\t"))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orDefault(s string) string {
	if s == "" {
		return "(cluster default)"
	}
	return s
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

func fmtBytes(b int64) string {
	switch {
	case b == 0:
		return "-"
	case b%(1<<30) == 0:
		return fmt.Sprintf("%dG", b>>30)
	case b%(1<<20) == 0:
		return fmt.Sprintf("%dM", b>>20)
	}
	return fmt.Sprintf("%dK", b>>10)
}

func newActionCommand(env Env, f *qFlags, action, short string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " JOBID...",
		Short: short,
		Long:  short + ". A job id is N, N_T (task T of array N), or an array's N (all its tasks).",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := client(env, f.socket)
			var failed error
			for _, id := range args {
				res, err := c.JobAction(cmd.Context(), id, action)
				if err != nil {
					fmt.Fprintf(env.Stderr, "bmcq %s: job %s: %v\n", action, id, err)
					failed = &ExitError{Code: 1}
					continue
				}
				if f.json {
					writeJSON(env.Stdout, res)
				}
			}
			return failed
		},
	}
}

func newWatchCommand(env Env, f *qFlags) *cobra.Command {
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Show the queue and nodes, refreshed until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			for {
				var b strings.Builder
				fmt.Fprintf(&b, "bmcq watch — every %s — %s\n\n", every, env.Now().Format("15:04:05"))
				if err := listJobs(ctx, env, &qFlags{socket: f.socket}, &b); err != nil {
					return err
				}
				b.WriteString("\n")
				nodes, err := client(env, f.socket).Nodes(ctx)
				if err != nil {
					return err
				}
				RenderNodes(&b, nodes.Nodes)
				if env.IsTerminal {
					fmt.Fprint(env.Stdout, "\033[H\033[2J")
				}
				fmt.Fprint(env.Stdout, b.String())
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(every):
				}
			}
		},
	}
	cmd.Flags().DurationVarP(&every, "interval", "n", 2*time.Second, "refresh interval")
	return cmd
}

func newNodesCommand(env Env, f *qFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "List machines (like sinfo -N)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nodes, err := client(env, f.socket).Nodes(cmd.Context())
			if err != nil {
				return err
			}
			if f.json {
				return writeJSON(env.Stdout, nodes)
			}
			return RenderNodes(env.Stdout, nodes.Nodes)
		},
	}
}

// RenderNodes prints the node table.
func RenderNodes(w io.Writer, nodes []api.NodeInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tARCH\tKIND\tCORES\tMEMORY\tPOWER\tJOB\tREASON")
	sim := false
	for _, n := range nodes {
		kind := n.Kind
		if n.Simulated {
			kind += "*"
			sim = true
		}
		pw := orDash(n.Power)
		if n.Watts != nil {
			pw = fmt.Sprintf("%s %.0fW", pw, *n.Watts)
		}
		jobID := "-"
		if n.Job != 0 {
			jobID = fmt.Sprint(n.Job)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", n.Name, n.State, n.Arch, kind, n.Cores,
			fmtBytes(n.Memory), pw, jobID, orDash(n.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if sim {
		fmt.Fprintln(w, "* simulated machine (power/sim), not hardware")
	}
	return nil
}

func newNodeCommand(env Env, f *qFlags) *cobra.Command {
	node := &cobra.Command{Use: "node", Short: "Drain or resume a machine (admins)"}
	var reason string
	drain := &cobra.Command{
		Use:   "drain NAME...",
		Short: "Take no new jobs on these nodes; running jobs finish",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return fmt.Errorf("drain needs --reason TEXT")
			}
			for _, n := range args {
				if err := client(env, f.socket).NodeAction(cmd.Context(), n, api.ActionDrain, reason); err != nil {
					return fmt.Errorf("node %s: %w", n, err)
				}
			}
			return nil
		},
	}
	drain.Flags().StringVar(&reason, "reason", "", "why (shown in bmcq nodes)")
	resume := &cobra.Command{
		Use:   "resume NAME...",
		Short: "Return drained or down nodes to service",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, n := range args {
				if err := client(env, f.socket).NodeAction(cmd.Context(), n, api.ActionResume, ""); err != nil {
					return fmt.Errorf("node %s: %w", n, err)
				}
			}
			return nil
		},
	}
	node.AddCommand(drain, resume, newNodeShowCommand(env, f))
	return node
}
