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
	line(w, "mode: %s (%s)", as.Mode, as.Why)
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
			row(tw, strings.Repeat("  ", depth)+a.Name, orDash(a.Parent), strconv.Itoa(a.Shares),
				orDash(strings.Join(a.Coordinators, ",")), limit, period, strconv.Itoa(users[a.Name]), a.Description)
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
	line(w, "Account=%s Parent=%s Shares=%d", a.Name, orDash(a.Parent), a.Shares)
	line(w, "   Description=%s", orDash(a.Description))
	line(w, "   Coordinators=%s", orDash(strings.Join(a.Coordinators, ",")))
	line(w, "   EnergyLimit=%s Period=%s", limit, period)
	line(w, "   MaxSubmitJobs=%s MaxJobs=%s", fmtCount(a.Jobs.MaxSubmitJobs, "-"), fmtCount(a.Jobs.MaxJobs, "-"))
	line(w, "   Accounts=%s", orDash(strings.Join(below, ",")))
	line(w, "   Users=%s", orDash(strings.Join(members, ",")))
	return nil
}

// RenderUsers prints users and the accounts they may charge.
func RenderUsers(w io.Writer, us []assoc.User) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tDEFAULT\tACCOUNTS\tENERGY_LIMIT\tPERIOD")
	for _, u := range us {
		limit, period := fmtLimit(u.Limit)
		row(tw, u.Name, u.DefaultAccount, strings.Join(u.Accounts, ","), limit, period)
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
	line(w, "User=%s DefaultAccount=%s", u.Name, u.DefaultAccount)
	line(w, "   Accounts=%s", strings.Join(u.Accounts, ","))
	line(w, "   Coordinates=%s", orDash(strings.Join(coord, ",")))
	line(w, "   EnergyLimit=%s Period=%s", limit, period)
	line(w, "   MaxSubmitJobs=%s MaxJobs=%s", fmtCount(u.Jobs.MaxSubmitJobs, "default"), fmtCount(u.Jobs.MaxJobs, "default"))
	return nil
}

// fmtCount shows a job limit, or unset when it has none of its own.
func fmtCount(n int, unset string) string {
	if n == 0 {
		return unset
	}
	return strconv.Itoa(n)
}

// RenderImport says what an import changed (or would).
func RenderImport(w io.Writer, r api.ImportResult) error {
	verb := "imported"
	if r.DryRun {
		verb = "would import (dry run)"
	}
	changes := func(kind string, ch api.Changes) {
		line(w, "%s: %d added, %d changed, %d removed", kind, len(ch.Added), len(ch.Changed), len(ch.Removed))
		for _, x := range []struct {
			sign  string
			names []string
		}{{"+", ch.Added}, {"~", ch.Changed}, {"-", ch.Removed}} {
			for _, n := range x.names {
				line(w, "  %s %s", x.sign, n)
			}
		}
	}
	fmt.Fprintln(w, verb)
	changes("accounts", r.Accounts)
	changes("users", r.Users)
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
		row(tw, q.Kind, q.Name, fmtEnergy(q.LimitJ), fmtEnergy(q.UsedJ), fmtEnergy(q.ReservedJ), fmtEnergy(q.LeftJ), pct, q.Period, reset)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, q := range qs {
		if q.Warning != "" {
			line(w, "warning: %s", q.Warning)
		}
	}
	return nil
}

// RenderShare prints the fair-share tree like sshare.
func RenderShare(w io.Writer, l api.ShareList) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tRAW_SHARES\tNORM_SHARES\tENERGY\tNORM_USAGE\tFAIRSHARE")
	for _, s := range l.Accounts {
		row(tw, strings.Repeat("  ", s.Depth)+orDash(s.Account), strconv.Itoa(s.RawShares), strconv.FormatFloat(s.NormShares, 'f', 6, 64),
			fmtEnergy(s.UsageJ), strconv.FormatFloat(s.NormUsage, 'f', 6, 64), strconv.FormatFloat(s.Factor, 'f', 6, 64))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "energy decayed with a half-life of %s; fairshare = 2^(-norm_usage/norm_shares)\n", fmtDuration(l.HalfLife))
	return err
}
