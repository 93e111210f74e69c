package bmcq

import (
	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/cli"
)

func newActionCommand(env cli.Env, f *qFlags, action, short string) *cobra.Command {
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
					line(env.Stderr, "bmcq %s: job %s: %v", action, id, err)
					failed = &cli.ExitError{Code: 1}
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
