package bmcq

import (
	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/cli"
)

func newShareCommand(env cli.Env, f *qFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "share",
		Short: "The energy fair-share tree, like sshare: shares, decayed energy and factor per account",
		Long: `bmcq share prints each account's raw and normalized shares, the energy its
jobs used (decayed: energy used a half-life ago counts half), its part of all
accounts' energy, and its fair-share factor 2^(-norm_usage/norm_shares),
which the scheduler weighs in a job's priority (bmcq show explains it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := client(env, f.socket).Share(cmd.Context())
			if err != nil {
				return err
			}
			if f.json {
				return writeJSON(env.Stdout, l)
			}
			return RenderShare(env.Stdout, l)
		},
	}
}
