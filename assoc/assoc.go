// Package assoc owns bmc's associations, like Slurm's sacctmgr records: a
// tree of accounts (an organisation at the top, its accounts below), the
// users who may charge each account with their default account, each
// account's coordinators, fair-share shares and energy limits with their
// reset period. It checks a set of them as a whole (Tree), decides which
// account a job is billed to, reads the TOML file sites keep them in, and
// computes the pure figures built on them: fair-share factors from decayed
// usage and the budgets that quotas hold jobs to. Storage is package
// store's; the controller decides when to ask.
package assoc

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/bmc-sched/bmc/internal/wallcron"
)

// Account is one node of the account tree.
type Account struct {
	Name string `json:"name"`
	// Parent is the account this one is part of; empty at the top (an
	// organisation).
	Parent      string `json:"parent,omitempty"`
	Description string `json:"description,omitempty"`
	// Shares is this account's part of its parent's fair share, against
	// its siblings' (Slurm's Fairshare=); at least 1.
	Shares int `json:"shares"`
	// Coordinators may hold, release and cancel the jobs of this account
	// and the accounts below it, and read their bills.
	Coordinators []string `json:"coordinators,omitempty"`
	// Limit caps the energy of this account's jobs and those below it.
	Limit Limit `json:"limit,omitzero"`
	// Jobs caps how many jobs charge this account itself at once.
	Jobs JobLimits `json:"jobs,omitzero"`
}

// User is a user's associations: the accounts they may charge.
type User struct {
	Name string `json:"name"`
	// DefaultAccount is charged when a job names none; one of Accounts.
	DefaultAccount string   `json:"default_account"`
	Accounts       []string `json:"accounts"`
	// Limit caps the energy of this user's jobs, whatever their account.
	Limit Limit `json:"limit,omitzero"`
	// Jobs caps how many jobs this user holds at once, in place of the
	// cluster's defaults (bmcctld --max-submit-jobs, --max-jobs).
	Jobs JobLimits `json:"jobs,omitzero"`
}

// JobLimits are Slurm's MaxSubmitJobs and MaxJobs: how many jobs may be
// pending or running at once, and how many running. Zero is no limit of
// its own (for a user: the cluster's default).
type JobLimits struct {
	MaxSubmitJobs int `json:"max_submit_jobs,omitempty"`
	MaxJobs       int `json:"max_jobs,omitempty"`
}

// Limit is an energy quota: at most EnergyKWh per period, the period
// restarting at each time of the cron expression Period (wall-clock
// times in the site's zone). Zero EnergyKWh is no limit.
type Limit struct {
	EnergyKWh float64 `json:"energy_kwh,omitempty"`
	Period    string  `json:"period,omitempty"`
}

// Periods a limit may name besides a cron expression.
const (
	DefaultPeriod = "@monthly" // an empty Period
	NoPeriod      = "none"     // never resets
)

// MaxEnergyKWh bounds a limit: a billion kWh is past any cluster's year.
const MaxEnergyKWh = 1e9

// Set reports whether l limits anything.
func (l Limit) Set() bool { return l.EnergyKWh > 0 }

// PeriodSpec is the period as written, with the default filled in.
func (l Limit) PeriodSpec() string {
	if strings.TrimSpace(l.Period) == "" {
		return DefaultPeriod
	}
	return strings.TrimSpace(l.Period)
}

// ErrInvalid wraps every association that does not hold together, and
// ErrNotMember a job's account that its user may not charge.
var (
	ErrInvalid   = errors.New("invalid association")
	ErrNotMember = errors.New("account not allowed")
)

// RecordError is a problem with one record of a tree: Kind "account" or
// "user", and its Name. It wraps ErrInvalid.
type RecordError struct {
	Kind, Name string
	Msg        string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s: %s %s: %s", ErrInvalid, e.Kind, e.Name, e.Msg)
}

func (e *RecordError) Unwrap() error { return ErrInvalid }

func bad(kind, name, format string, a ...any) error {
	return &RecordError{Kind: kind, Name: name, Msg: fmt.Sprintf(format, a...)}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$`)

// CheckName checks an account or user name: [A-Za-z0-9._-], 1 to 64
// bytes, not starting with '.' or '-' (the job file's account rule).
func CheckName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: %s name %q: want 1-64 of [A-Za-z0-9._-], not starting with . or -", ErrInvalid, kind, name)
	}
	return nil
}

// checkLimit checks l of the named record.
func checkLimit(kind, name string, l Limit) error {
	if math.IsNaN(l.EnergyKWh) || l.EnergyKWh < 0 || l.EnergyKWh > MaxEnergyKWh {
		return bad(kind, name, "energy limit %g kWh is outside 0..%g", l.EnergyKWh, float64(MaxEnergyKWh))
	}
	if p := l.PeriodSpec(); p != NoPeriod {
		if _, err := wallcron.Parse(p, nil); err != nil {
			return bad(kind, name, "period: %v (or %q)", err, NoPeriod)
		}
	}
	return nil
}

// MaxJobLimit bounds MaxSubmitJobs and MaxJobs.
const MaxJobLimit = 10_000_000

func checkJobs(kind, name string, l JobLimits) error {
	for _, f := range []struct {
		field string
		n     int
	}{{"max_submit_jobs", l.MaxSubmitJobs}, {"max_jobs", l.MaxJobs}} {
		if f.n < 0 || f.n > MaxJobLimit {
			return bad(kind, name, "%s %d is outside 0..%d", f.field, f.n, MaxJobLimit)
		}
	}
	return nil
}

func checkText(kind, name, field, s string, max int) error {
	if len(s) > max || strings.ContainsFunc(s, unicode.IsControl) {
		return bad(kind, name, "%s: at most %d bytes, no control characters", field, max)
	}
	return nil
}

// normalized returns a with defaults filled in and lists sorted.
func (a Account) normalized() Account {
	if a.Shares == 0 {
		a.Shares = 1
	}
	a.Coordinators = sortedUnique(a.Coordinators)
	a.Limit.Period = strings.TrimSpace(a.Limit.Period)
	return a
}

// normalized returns u with its default account among its accounts (the
// first listed when none is named) and the list sorted.
func (u User) normalized() User {
	if u.DefaultAccount == "" && len(u.Accounts) > 0 {
		u.DefaultAccount = u.Accounts[0]
	}
	if u.DefaultAccount != "" && !slices.Contains(u.Accounts, u.DefaultAccount) {
		u.Accounts = append(slices.Clone(u.Accounts), u.DefaultAccount)
	}
	u.Accounts = sortedUnique(u.Accounts)
	u.Limit.Period = strings.TrimSpace(u.Limit.Period)
	return u
}

func sortedUnique(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}
