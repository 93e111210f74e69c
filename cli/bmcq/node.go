package bmcq

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/cli"
)

func newNodeCommand(env cli.Env, f *qFlags) *cobra.Command {
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
