package bmcq

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/cli"
)

func newWatchCommand(env cli.Env, f *qFlags) *cobra.Command {
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
