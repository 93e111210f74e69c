package assoc

import (
	"time"

	"github.com/bmc-sched/bmc/internal/wallcron"
)

// Budget kinds: whose energy a budget limits.
const (
	KindAccount = "account"
	KindUser    = "user"
)

// Key names one energy budget: an account's (with the accounts below it)
// or a user's.
type Key struct {
	Kind string // KindAccount or KindUser
	Name string
}

func (k Key) String() string { return k.Kind + ":" + k.Name }

// Budget is one limit in force: how much energy it allows in its current
// period [Since, Reset) (both zero for a limit that never resets).
type Budget struct {
	Key   Key
	Limit Limit
	Since time.Time
	Reset time.Time
}

// Budgets lists every limit of the tree with its period at now, read in
// loc (the site's zone; nil is UTC): accounts first, by name, then users.
func (t *Tree) Budgets(now time.Time, loc *time.Location) []Budget {
	var out []Budget
	add := func(k Key, l Limit) {
		if !l.Set() {
			return
		}
		b := Budget{Key: k, Limit: l}
		b.Since, b.Reset = Period(l, now, loc)
		out = append(out, b)
	}
	for _, a := range t.Accounts() {
		add(Key{KindAccount, a.Name}, a.Limit)
	}
	for _, u := range t.Users() {
		add(Key{KindUser, u.Name}, u.Limit)
	}
	return out
}

// Period returns the period of l that holds now: from its latest reset at
// or before now to the next one. Both are zero for a limit that never
// resets (or a period that cannot be read, which NewTree refuses).
func Period(l Limit, now time.Time, loc *time.Location) (since, reset time.Time) {
	p := l.PeriodSpec()
	if p == NoPeriod {
		return time.Time{}, time.Time{}
	}
	s, err := wallcron.Parse(p, loc)
	if err != nil {
		return time.Time{}, time.Time{}
	}
	since, _ = s.Prev(now)
	return since, s.Next(now)
}

// KeysFor returns the budgets a job of user billed to account draws on:
// the account's and each account's above it that has a limit, then the
// user's if it has one.
func (t *Tree) KeysFor(user, account string) []Key {
	var out []Key
	if _, ok := t.Account(account); ok {
		for _, a := range t.Ancestors(account) {
			if acc, _ := t.Account(a); acc.Limit.Set() {
				out = append(out, Key{KindAccount, a})
			}
		}
	}
	if u, ok := t.User(user); ok && u.Limit.Set() {
		out = append(out, Key{KindUser, user})
	}
	return out
}
