package bmcq

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/assoc"
)

// RenderAccounts prints the mode in force and the accounts as a tree,
// like sacctmgr show account withassoc, one account a line.
func RenderAccounts(w io.Writer, as api.Associations) error {
	fmt.Fprintf(w, "mode: %s (%s)\n", as.Mode, as.Why)
	if len(as.Accounts) == 0 {
		return nil
	}
	users := map[string]int{}
	for _, u := range as.Users {
		for _, a := range u.Accounts {
			users[a]++
		}
	}
	kids := map[string][]assoc.Account{}
	for _, a := range as.Accounts {
		kids[a.Parent] = append(kids[a.Parent], a)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tPARENT\tSHARES\tCOORDINATORS\tENERGY_LIMIT\tPERIOD\tUSERS\tDESCRIPTION")
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, a := range kids[parent] {
			limit, period := fmtLimit(a.Limit)
			fmt.Fprintf(tw, "%s%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", strings.Repeat("  ", depth), a.Name, orDash(a.Parent), a.Shares,
				orDash(strings.Join(a.Coordinators, ",")), limit, period, users[a.Name], printable(a.Description))
			walk(a.Name, depth+1)
		}
	}
	walk("", 0)
	return tw.Flush()
}

// RenderAccount prints one account like scontrol: key=value lines.
func RenderAccount(w io.Writer, as api.Associations, a assoc.Account) error {
	limit, period := fmtLimit(a.Limit)
	var below, members []string
	for _, x := range as.Accounts {
		if x.Parent == a.Name {
			below = append(below, x.Name)
		}
	}
	for _, u := range as.Users {
		if slices.Contains(u.Accounts, a.Name) {
			m := u.Name
			if u.DefaultAccount == a.Name {
				m += "(default)"
			}
			members = append(members, m)
		}
	}
	fmt.Fprintf(w, "Account=%s Parent=%s Shares=%d\n", a.Name, orDash(a.Parent), a.Shares)
	fmt.Fprintf(w, "   Description=%s\n", orDash(printable(a.Description)))
	fmt.Fprintf(w, "   Coordinators=%s\n", orDash(strings.Join(a.Coordinators, ",")))
	fmt.Fprintf(w, "   EnergyLimit=%s Period=%s\n", limit, period)
	fmt.Fprintf(w, "   Accounts=%s\n", orDash(strings.Join(below, ",")))
	fmt.Fprintf(w, "   Users=%s\n", orDash(strings.Join(members, ",")))
	return nil
}

// RenderUsers prints users and the accounts they may charge.
func RenderUsers(w io.Writer, us []assoc.User) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tDEFAULT\tACCOUNTS\tENERGY_LIMIT\tPERIOD")
	for _, u := range us {
		limit, period := fmtLimit(u.Limit)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.DefaultAccount, strings.Join(u.Accounts, ","), limit, period)
	}
	return tw.Flush()
}

// RenderUser prints one user's associations and what they coordinate.
func RenderUser(w io.Writer, as api.Associations, u assoc.User) error {
	limit, period := fmtLimit(u.Limit)
	var coord []string
	for _, a := range as.Accounts {
		if slices.Contains(a.Coordinators, u.Name) {
			coord = append(coord, a.Name)
		}
	}
	fmt.Fprintf(w, "User=%s DefaultAccount=%s\n", u.Name, u.DefaultAccount)
	fmt.Fprintf(w, "   Accounts=%s\n", strings.Join(u.Accounts, ","))
	fmt.Fprintf(w, "   Coordinates=%s\n", orDash(strings.Join(coord, ",")))
	fmt.Fprintf(w, "   EnergyLimit=%s Period=%s\n", limit, period)
	return nil
}

// RenderImport says what an import changed (or would).
func RenderImport(w io.Writer, r api.ImportResult) error {
	verb := "imported"
	if r.DryRun {
		verb = "would import (dry run)"
	}
	line := func(kind string, ch api.Changes) {
		fmt.Fprintf(w, "%s: %d added, %d changed, %d removed\n", kind, len(ch.Added), len(ch.Changed), len(ch.Removed))
		for _, x := range []struct {
			sign  string
			names []string
		}{{"+", ch.Added}, {"~", ch.Changed}, {"-", ch.Removed}} {
			for _, n := range x.names {
				fmt.Fprintf(w, "  %s %s\n", x.sign, n)
			}
		}
	}
	fmt.Fprintln(w, verb)
	line("accounts", r.Accounts)
	line("users", r.Users)
	return nil
}

// RenderQuota prints `bmcq acct --quota`: each limit with what is used,
// reserved by running jobs and left, and when it resets.
func RenderQuota(w io.Writer, qs []api.Quota) error {
	if len(qs) == 0 {
		_, err := fmt.Fprintln(w, "no energy limits (bmcq account modify NAME --energy-limit KWH)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tLIMIT\tUSED\tRESERVED\tLEFT\tUSED%\tPERIOD\tRESETS")
	for _, q := range qs {
		reset := "never"
		if !q.Reset.IsZero() {
			reset = stamp(q.Reset)
		}
		pct := "-"
		if q.LimitJ > 0 {
			pct = strconv.FormatFloat(100*q.UsedJ/q.LimitJ, 'f', 1, 64)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", q.Kind, q.Name, fmtEnergy(q.LimitJ), fmtEnergy(q.UsedJ),
			fmtEnergy(q.ReservedJ), fmtEnergy(q.LeftJ), pct, q.Period, reset)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, q := range qs {
		if q.Warning != "" {
			fmt.Fprintln(w, "warning: "+q.Warning)
		}
	}
	return nil
}

// RenderShare prints the fair-share tree like sshare.
func RenderShare(w io.Writer, l api.ShareList) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tRAW_SHARES\tNORM_SHARES\tENERGY\tNORM_USAGE\tFAIRSHARE")
	for _, s := range l.Accounts {
		fmt.Fprintf(tw, "%s%s\t%d\t%.6f\t%s\t%.6f\t%.6f\n", strings.Repeat("  ", s.Depth), orDash(s.Account), s.RawShares,
			s.NormShares, fmtEnergy(s.UsageJ), s.NormUsage, s.Factor)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "energy decayed with a half-life of %s; fairshare = 2^(-norm_usage/norm_shares)\n", fmtDuration(l.HalfLife))
	return err
}
