package bmcq

import (
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/cli"
	"github.com/bmc-sched/bmc/job"
)

func newShowCommand(env cli.Env, f *qFlags) *cobra.Command {
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

// RenderJob prints `bmcq show` like scontrol show job: key=value lines,
// every value escaped (lines.go).
func RenderJob(w io.Writer, d api.JobDetail) error {
	s := d.Spec
	p := func(format string, a ...any) { line(w, format, a...) }
	node := d.Node
	if node == "" {
		node = "-"
	}
	if d.Simulated {
		node += " (simulated machine)"
	}
	p("JobId=%s Name=%s", d.JobID, d.Name)
	p("   User=%s Account=%s Partition=%s Priority=%.0f", d.User, orDash(d.Account), d.Partition, d.Priority)
	for _, t := range d.PriorityTerms {
		p("      %-9s %+9.1f  %s", t.Name, t.Value, t.Detail)
	}
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
		// An argv shows its words' bounds: each quoted, with the same Go
		// escapes as every other value.
		q := make([]string, len(s.Command.Argv))
		for i, a := range s.Command.Argv {
			q[i] = strconv.Quote(a)
		}
		cmd = "[" + strings.Join(q, ",") + "]"
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
		reason := ""
		if e.Reason != job.ReasonNone {
			reason = string(e.Reason)
		}
		row(tw, trimmed("   "+ts(e.Time), string(e.State), reason, e.Node, e.Detail)...)
	}
	return tw.Flush()
}
