package bmcq

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/cli"
)

// accountFlags are the fields `account add` and `account modify` set;
// modify changes only those given.
type accountFlags struct {
	parent, description, period string
	shares                      int
	coordinators                []string
	limit                       string
	jobs                        jobLimitFlags
}

func (af *accountFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&af.parent, "parent", "", "the account this one is part of (none: a top-level organisation)")
	fl.StringVar(&af.description, "description", "", "what the account is for")
	fl.IntVar(&af.shares, "shares", 1, "fair-share shares against its siblings")
	fl.StringSliceVar(&af.coordinators, "coordinators", nil, "users who may hold, release and cancel its jobs and read its bills")
	fl.StringVar(&af.limit, "energy-limit", "", `energy quota per period: "50" (kWh), "50kWh", "180MJ"; "none" removes it`)
	fl.StringVar(&af.period, "period", "", `when the quota resets: a cron expression (default @monthly) or "none"`)
	af.jobs.bind(cmd, "charging this account")
}

// apply sets on a the fields given on cmd's command line.
func (af *accountFlags) apply(cmd *cobra.Command, a *assoc.Account) error {
	fl := cmd.Flags()
	if fl.Changed("parent") {
		a.Parent = af.parent
	}
	if fl.Changed("description") {
		a.Description = af.description
	}
	if fl.Changed("shares") || a.Shares == 0 {
		a.Shares = af.shares
	}
	if fl.Changed("coordinators") {
		a.Coordinators = af.coordinators
	}
	af.jobs.apply(cmd, &a.Jobs)
	return applyLimit(cmd, af.limit, af.period, &a.Limit)
}

func newAccountCommand(env cli.Env, f *qFlags) *cobra.Command {
	root := &cobra.Command{
		Use:   "account",
		Short: "Accounts, like sacctmgr: the tree of accounts, their coordinators, shares and energy quotas",
		Long: `bmcq account manages the accounts jobs are billed to (admins change them,
everyone reads them). Accounts form a tree: an organisation at the top, its
accounts below. Once an account is defined (or with bmcctld
--enforce-associations), a job must charge an account its user may (bmcq
user); before that any account name is taken. bmcq account list says which
mode is in force.`,
	}
	var af accountFlags
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create an account",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a := assoc.Account{Name: args[0]}
			if err := af.apply(cmd, &a); err != nil {
				return err
			}
			return client(env, f.socket).AddAccount(cmd.Context(), a)
		},
	}
	af.bind(add)
	var mf accountFlags
	modify := &cobra.Command{
		Use:   "modify NAME",
		Short: "Change the fields given of an account",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return onAssociations(cmd, env, f, func(c *api.Client, as api.Associations) error {
				a, ok := findAccount(as, args[0])
				if !ok {
					return fmt.Errorf("account %s does not exist (bmcq account list)", args[0])
				}
				if err := mf.apply(cmd, &a); err != nil {
					return err
				}
				return c.PutAccount(cmd.Context(), a)
			})
		},
	}
	mf.bind(modify)
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an account no user charges and no account is below",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return client(env, f.socket).DeleteAccount(cmd.Context(), args[0])
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the accounts as a tree, and the mode in force",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onAssociations(cmd, env, f, func(_ *api.Client, as api.Associations) error {
				if f.json {
					return writeJSON(env.Stdout, as)
				}
				return RenderAccounts(env.Stdout, as)
			})
		},
	}
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one account: its place in the tree, coordinators, users and quota",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return onAssociations(cmd, env, f, func(_ *api.Client, as api.Associations) error {
				a, ok := findAccount(as, args[0])
				if !ok {
					return fmt.Errorf("account %s does not exist (bmcq account list)", args[0])
				}
				if f.json {
					return writeJSON(env.Stdout, a)
				}
				return RenderAccount(env.Stdout, as, a)
			})
		},
	}
	var dryRun bool
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Replace every account and user with those of a TOML file (as kept in git)",
		Long: `bmcq account import reads a file of [[account]] and [[user]] tables
(docs/accounting.md), checks it here (errors name the line), and makes the
associations exactly what it says: accounts and users it does not list are
removed. --dry-run shows the changes without making them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readFileArg(env, args[0])
			if err != nil {
				return err
			}
			t, err := assoc.ParseFile(args[0], data)
			if err != nil {
				return cli.LineError{Err: err}
			}
			res, err := client(env, f.socket).ImportAssociations(cmd.Context(), api.ImportRequest{Accounts: t.Accounts(), Users: t.Users(), DryRun: dryRun})
			if err != nil {
				return err
			}
			if f.json {
				return writeJSON(env.Stdout, res)
			}
			return RenderImport(env.Stdout, res)
		},
	}
	imp.Flags().BoolVar(&dryRun, "dry-run", false, "show what would change, change nothing")
	root.AddCommand(add, modify, del, list, show, imp)
	return root
}

// onAssociations runs fn with the daemon's associations.
func onAssociations(cmd *cobra.Command, env cli.Env, f *qFlags, fn func(*api.Client, api.Associations) error) error {
	c := client(env, f.socket)
	as, err := c.Associations(cmd.Context())
	if err != nil {
		return err
	}
	return fn(c, as)
}

// readFileArg reads a file named on the command line, relative to where
// bmcq runs.
func readFileArg(env cli.Env, name string) ([]byte, error) {
	if !filepath.IsAbs(name) && env.Cwd != "" {
		name = filepath.Join(env.Cwd, name)
	}
	return os.ReadFile(name)
}

func findAccount(as api.Associations, name string) (assoc.Account, bool) {
	for _, a := range as.Accounts {
		if a.Name == name {
			return a, true
		}
	}
	return assoc.Account{}, false
}

func findUser(as api.Associations, name string) (assoc.User, bool) {
	for _, u := range as.Users {
		if u.Name == name {
			return u, true
		}
	}
	return assoc.User{}, false
}
