package bmcq

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/cli"
)

func newNodesCommand(env cli.Env, f *qFlags) *cobra.Command {
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
		state := n.State
		if n.OffInSeconds > 0 {
			state += " " + (time.Duration(n.OffInSeconds) * time.Second).String()
		}
		row(tw, n.Name, state, n.Arch, kind, strconv.Itoa(n.Cores), fmtBytes(n.Memory), pw, jobID, orDash(n.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if sim {
		fmt.Fprintln(w, "* simulated machine (power/sim), not hardware")
	}
	return nil
}
