package bmcq

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/cli"
)

// userFlags are the fields `user add` and `user modify` set; modify
// changes only those given.
type userFlags struct {
	accounts, add, remove []string
	def, limit, period    string
	jobs                  jobLimitFlags
}

func (uf *userFlags) bind(cmd *cobra.Command, modify bool) {
	fl := cmd.Flags()
	fl.StringSliceVarP(&uf.accounts, "account", "A", nil, "the accounts the user may charge")
	fl.StringVar(&uf.def, "default", "", "the account charged when a job names none (default: the first)")
	fl.StringVar(&uf.limit, "energy-limit", "", `the user's own energy quota per period, whatever the account: "50" (kWh), "180MJ"; "none" removes it`)
	fl.StringVar(&uf.period, "period", "", `when the quota resets: a cron expression (default @monthly) or "none"`)
	uf.jobs.bind(cmd, "of this user (in place of bmcctld --max-submit-jobs, --max-jobs)")
	if modify {
		fl.StringSliceVar(&uf.add, "add-account", nil, "accounts to add to the user's")
		fl.StringSliceVar(&uf.remove, "remove-account", nil, "accounts to take from the user's")
	}
}

func (uf *userFlags) apply(cmd *cobra.Command, u *assoc.User) error {
	fl := cmd.Flags()
	if fl.Changed("account") {
		u.Accounts = uf.accounts
	}
	u.Accounts = append(u.Accounts, uf.add...)
	u.Accounts = slices.DeleteFunc(u.Accounts, func(a string) bool { return slices.Contains(uf.remove, a) })
	if fl.Changed("default") {
		u.DefaultAccount = uf.def
	} else if !slices.Contains(u.Accounts, u.DefaultAccount) {
		u.DefaultAccount = "" // taken away: the first account left
	}
	uf.jobs.apply(cmd, &u.Jobs)
	return applyLimit(cmd, uf.limit, uf.period, &u.Limit)
}

func newUserCommand(env cli.Env, f *qFlags) *cobra.Command {
	root := &cobra.Command{
		Use:   "user",
		Short: "Users' associations: the accounts each may charge, the default, an energy quota",
	}
	var af userFlags
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Let a user charge accounts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u := assoc.User{Name: args[0]}
			if err := af.apply(cmd, &u); err != nil {
				return err
			}
			if len(u.Accounts) == 0 && u.DefaultAccount == "" {
				return fmt.Errorf("user add needs --account NAME")
			}
			return client(env, f.socket).AddUser(cmd.Context(), u)
		},
	}
	af.bind(add, false)
	var mf userFlags
	modify := &cobra.Command{
		Use:   "modify NAME",
		Short: "Change the fields given of a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return onAssociations(cmd, env, f, func(c *api.Client, as api.Associations) error {
				u, ok := findUser(as, args[0])
				if !ok {
					return fmt.Errorf("user %s has no associations (bmcq user add)", args[0])
				}
				if err := mf.apply(cmd, &u); err != nil {
					return err
				}
				return c.PutUser(cmd.Context(), u)
			})
		},
	}
	mf.bind(modify, true)
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Remove a user's associations",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return client(env, f.socket).DeleteUser(cmd.Context(), args[0])
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List users and their accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onAssociations(cmd, env, f, func(_ *api.Client, as api.Associations) error {
				if f.json {
					return writeJSON(env.Stdout, as.Users)
				}
				return RenderUsers(env.Stdout, as.Users)
			})
		},
	}
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one user's associations",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return onAssociations(cmd, env, f, func(_ *api.Client, as api.Associations) error {
				u, ok := findUser(as, args[0])
				if !ok {
					return fmt.Errorf("user %s has no associations (bmcq user add)", args[0])
				}
				if f.json {
					return writeJSON(env.Stdout, u)
				}
				return RenderUser(env.Stdout, as, u)
			})
		},
	}
	root.AddCommand(add, modify, del, list, show)
	return root
}
