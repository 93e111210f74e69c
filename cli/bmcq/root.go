// Package bmcq is the bmcq command: the queue (like squeue), one job in
// detail, cancel, hold, release and requeue, the machines and their drain
// and resume, the kernel catalog, `bmcq acct`, the energy report (with
// quotas and statements), and the associations (`bmcq account`, `bmcq
// user`, like sacctmgr), the fair share (`bmcq share`) and carbon. Each
// subcommand has its file; the acct report's fields, table, groups,
// comparison, plot and SVG chart have theirs. It renders: the sums and the
// advice come from package accounting, the data from bmcctld.
package bmcq

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/buildinfo"
	"github.com/bmc-sched/bmc/cli"
)

type qFlags struct {
	socket string
	json   bool
	users  []string
	states []string
	jobs   []string
	all    bool
}

// NewCommand builds bmcq and its subcommands.
func NewCommand(env cli.Env) *cobra.Command {
	var f qFlags
	root := &cobra.Command{
		Use:   "bmcq",
		Short: "Show and manage the bmc queue, nodes and energy accounting",
		Long: `bmcq with no subcommand lists the queue like squeue: unfinished jobs and
those that ended in the last few minutes (--all for every job).`,
		Version: buildinfo.Version(),
		Args:    cobra.NoArgs,
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
		newKernelsCommand(env, &f), newAcctCommand(env, &f), newAccountCommand(env, &f), newUserCommand(env, &f),
		newShareCommand(env, &f), newCarbonCommand(env, &f))
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

// Run is bmcq with args (without the program name), writing to env's
// streams. Cobra's own error and usage printing is off: cli.Exit prints
// one line instead.
func Run(ctx context.Context, env cli.Env, args []string) error {
	cmd := NewCommand(env)
	cmd.SetArgs(args)
	cmd.SetOut(env.Stdout)
	cmd.SetErr(env.Stderr)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return cmd.ExecuteContext(ctx)
}

// client is the HTTP API client for everything but the queue table.
func client(env cli.Env, socketFlag string) *api.Client {
	return api.NewClient(env.Socket(socketFlag))
}
