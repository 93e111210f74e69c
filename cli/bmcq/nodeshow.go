package bmcq

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/cli"
)

func newNodeShowCommand(env cli.Env, f *qFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show one machine in detail, with what the controller observed and did (its events)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := client(env, f.socket).Node(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.json {
				return writeJSON(env.Stdout, d)
			}
			return RenderNode(env.Stdout, d)
		},
	}
}

// RenderNode prints `bmcq node show` like scontrol show node: key=value
// lines, then the node's events, every value escaped (lines.go).
func RenderNode(w io.Writer, d api.NodeDetail) error {
	p := func(format string, a ...any) { line(w, format, a...) }
	kind := d.Kind
	if d.Simulated {
		kind += " (simulated machine)"
	}
	pw := orDash(d.Power)
	if d.Watts != nil {
		pw = fmt.Sprintf("%s %.0fW", pw, *d.Watts)
	}
	jobID := "-"
	if d.Job != 0 {
		jobID = fmt.Sprint(d.Job)
	}
	p("NodeName=%s State=%s Arch=%s Kind=%s", d.Name, d.State, d.Arch, kind)
	p("   Cores=%d Memory=%s Features=%s Partitions=%s", d.Cores, fmtBytes(d.Memory),
		orDash(strings.Join(d.Features, ",")), strings.Join(d.Partitions, ","))
	p("   Protocol=%s Power=%s Job=%s Since=%s", d.Protocol, pw, jobID, ts(d.Since))
	p("   Reason=%s", orDash(d.Reason))
	p("Events:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range d.Events {
		job := ""
		if e.Job != 0 {
			job = fmt.Sprintf("job %d", e.Job)
		}
		row(tw, trimmed("   "+ts(e.Time), e.Action, string(e.State), job, e.Detail)...)
	}
	return tw.Flush()
}
