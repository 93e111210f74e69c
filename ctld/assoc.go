package ctld

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/store"
)

// acctState is what the controller keeps of associations and what is built
// on them: the tree (read without a lock, replaced whole by admins), the
// carbon schedule, and under mu the quotas' and fair share's running
// figures (quota.go, fairshare.go). mu is a leaf: nothing else is locked
// while it is held.
type acctState struct {
	tree   atomic.Pointer[assoc.Tree]
	carbon atomic.Pointer[accounting.Carbon]
	admin  sync.Mutex // one association or carbon change at a time

	mu      sync.Mutex
	bills   []billRec                     // every billed entry, in billing order
	names   map[string]string             // interned account and user names
	periods map[assoc.Key]*periodUsage    // quotas' used energy, by budget
	fair    map[string]accounting.Decayed // fair-share usage, by account
	watts   map[string][]float64          // run-phase mean watts by kind, newest last
	reserve map[uint64]float64            // joules each running job reserved
	factors map[string]float64            // the last pass's fair-share factors ...
	passAt  time.Time                     // ... and its time
}

// loadAccounting reads the associations, the imported carbon values and
// the ledger's figures the quotas and fair share need.
func (c *Controller) loadAccounting() (*acctState, error) {
	a := &acctState{periods: map[assoc.Key]*periodUsage{}, fair: map[string]accounting.Decayed{},
		watts: map[string][]float64{}, reserve: map[uint64]float64{}}
	var hours []store.CarbonHour
	var accts []assoc.Account
	var users []assoc.User
	err := c.st.View(func(tx *store.Tx) error {
		var err error
		if accts, users, err = tx.Associations(); err != nil {
			return err
		}
		if hours, err = tx.CarbonHours(); err != nil {
			return err
		}
		return tx.ForEachLedgerEntry(func(e *store.LedgerEntry) error {
			a.addBill(c.billedOf(e), c.halfLife())
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	tree, err := assoc.NewTree(accts, users)
	if err != nil {
		return nil, fmt.Errorf("the stored associations do not hold together: %w", err)
	}
	a.tree.Store(tree)
	carbon, err := c.carbonWith(hours)
	if err != nil {
		return nil, fmt.Errorf("imported carbon values: %w", err)
	}
	a.carbon.Store(carbon)
	return a, nil
}

// enforced reports whether jobs must charge an account their user may,
// and why, as `bmcq account list` says it.
func (c *Controller) enforced() (bool, string) {
	t := c.acct.tree.Load()
	switch {
	case c.cfg.EnforceAssociations:
		return true, "bmcctld --enforce-associations"
	case !t.Empty():
		return true, fmt.Sprintf("%d accounts are defined", len(t.Accounts()))
	}
	return false, "no accounts are defined: any account name is taken; define one (bmcq account add) to enforce"
}

// checkAccount settles which account a submitted job charges: the one it
// names if its user may charge it, else (naming none) the user's default.
// Admins may charge any account that exists. It returns warnings for the
// user about the budgets the job draws on.
func (c *Controller) checkAccount(who Identity, spec *job.Spec) ([]string, error) {
	t := c.acct.tree.Load()
	enforce, _ := c.enforced()
	if who.Admin && enforce {
		if spec.Account == "" {
			if u, ok := t.User(who.User); ok {
				spec.Account = u.DefaultAccount
			}
		} else if _, ok := t.Account(spec.Account); !ok {
			return nil, fmt.Errorf("%w: account: %q does not exist (bmcq account list)", ErrInvalid, spec.Account)
		}
		return c.quotaWarnings(who.User, spec.Account), nil
	}
	acct, err := t.Resolve(who.User, spec.Account, c.cfg.EnforceAssociations)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	spec.Account = acct
	return c.quotaWarnings(who.User, spec.Account), nil
}

// actsAsAdmin reports whether who may take action on j as an admin would:
// an admin, or (to hold, release or cancel) a coordinator of j's account.
func (c *Controller) actsAsAdmin(who Identity, j *job.Job, action string) bool {
	if who.Admin {
		return true
	}
	switch action {
	case api.ActionCancel, api.ActionHold, api.ActionRelease:
		return c.acct.tree.Load().Coordinates(who.User, j.Spec.Account)
	}
	return false
}

// Associations returns the records and the mode in force.
func (c *Controller) Associations() api.Associations {
	t := c.acct.tree.Load()
	out := api.Associations{Mode: api.ModeOpen, Accounts: t.Accounts(), Users: t.Users()}
	enforce, why := c.enforced()
	if enforce {
		out.Mode = api.ModeEnforced
	}
	out.Why = why
	return out
}

// errAssoc maps the tree's refusals to what callers see.
func errAssoc(err error) error {
	if errors.Is(err, assoc.ErrInvalid) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}

// changeAssociations applies one admin change: next builds the new tree
// from the current one, write stores what changed, and the new tree is in
// force once stored.
func (c *Controller) changeAssociations(who Identity, verb string, next func(*assoc.Tree) (*assoc.Tree, error), write func(*store.Tx, *assoc.Tree) error) error {
	if !who.Admin {
		return fmt.Errorf("%w: only root or the admin group may %s associations", ErrForbidden, verb)
	}
	c.acct.admin.Lock()
	defer c.acct.admin.Unlock()
	t, err := next(c.acct.tree.Load())
	if err != nil {
		return errAssoc(err)
	}
	if err := c.st.Update(func(tx *store.Tx) error { return write(tx, t) }); err != nil {
		return err
	}
	c.acct.tree.Store(t)
	c.acct.mu.Lock()
	clear(c.acct.periods) // limits and the tree's shape may have changed
	c.acct.mu.Unlock()
	c.log.Info("associations changed", "by", who.User, "change", verb)
	c.Wake()
	return nil
}

// AddAccount creates an account.
func (c *Controller) AddAccount(who Identity, a assoc.Account) error {
	return c.changeOne(who, "add", assoc.KindAccount, a.Name, func(t *assoc.Tree) (*assoc.Tree, error) { return t.WithAccount(a) })
}

// PutAccount replaces an existing account.
func (c *Controller) PutAccount(who Identity, a assoc.Account) error {
	return c.changeOne(who, "modify", assoc.KindAccount, a.Name, func(t *assoc.Tree) (*assoc.Tree, error) { return t.WithAccount(a) })
}

// DeleteAccount removes an account that no account is below and no user charges.
func (c *Controller) DeleteAccount(who Identity, name string) error {
	return c.changeOne(who, "delete", assoc.KindAccount, name, func(t *assoc.Tree) (*assoc.Tree, error) { return t.WithoutAccount(name) })
}

// AddUser creates a user's associations.
func (c *Controller) AddUser(who Identity, u assoc.User) error {
	return c.changeOne(who, "add", assoc.KindUser, u.Name, func(t *assoc.Tree) (*assoc.Tree, error) { return t.WithUser(u) })
}

// PutUser replaces a user's associations.
func (c *Controller) PutUser(who Identity, u assoc.User) error {
	return c.changeOne(who, "modify", assoc.KindUser, u.Name, func(t *assoc.Tree) (*assoc.Tree, error) { return t.WithUser(u) })
}

// DeleteUser removes a user's associations.
func (c *Controller) DeleteUser(who Identity, name string) error {
	return c.changeOne(who, "delete", assoc.KindUser, name, func(t *assoc.Tree) (*assoc.Tree, error) { return t.WithoutUser(name) })
}

// changeOne adds, modifies or deletes one account or user (kind, name):
// an add needs the name free, the others need it taken; with builds the
// tree after the change, whose record of name is then stored (or deleted).
func (c *Controller) changeOne(who Identity, verb, kind, name string, with func(*assoc.Tree) (*assoc.Tree, error)) error {
	has := func(t *assoc.Tree) bool {
		if kind == assoc.KindUser {
			_, ok := t.User(name)
			return ok
		}
		_, ok := t.Account(name)
		return ok
	}
	return c.changeAssociations(who, verb+" "+kind+" "+name, func(t *assoc.Tree) (*assoc.Tree, error) {
		switch {
		case verb == "add" && has(t):
			return nil, fmt.Errorf("%w: %s %s exists; change it with bmcq %s modify", ErrConflict, kind, name, kind)
		case verb != "add" && !has(t):
			return nil, fmt.Errorf("%s %s: %w", kind, name, ErrNotFound)
		}
		return with(t)
	}, func(tx *store.Tx, t *assoc.Tree) error {
		switch {
		case verb == "delete" && kind == assoc.KindUser:
			return tx.DeleteUser(name)
		case verb == "delete":
			return tx.DeleteAccount(name)
		case kind == assoc.KindUser:
			u, _ := t.User(name)
			return tx.PutUser(&u)
		}
		a, _ := t.Account(name)
		return tx.PutAccount(&a)
	})
}

// ImportAssociations replaces every association with the request's, as a
// site's git copy says they are, and reports the difference.
func (c *Controller) ImportAssociations(who Identity, r api.ImportRequest) (api.ImportResult, error) {
	var res api.ImportResult
	verb := "import"
	if r.DryRun {
		verb = "check an import of"
	}
	err := c.changeAssociations(who, verb, func(old *assoc.Tree) (*assoc.Tree, error) {
		t, err := assoc.NewTree(r.Accounts, r.Users)
		if err != nil {
			return nil, err
		}
		res = api.ImportResult{Accounts: diff(old.Accounts(), t.Accounts(), func(a assoc.Account) string { return a.Name }),
			Users: diff(old.Users(), t.Users(), func(u assoc.User) string { return u.Name }), DryRun: r.DryRun}
		if r.DryRun {
			return nil, errDryRun
		}
		return t, nil
	}, func(tx *store.Tx, t *assoc.Tree) error { return tx.ReplaceAssociations(t.Accounts(), t.Users()) })
	if errors.Is(err, errDryRun) {
		return res, nil
	}
	return res, err
}

var errDryRun = errors.New("dry run")

// diff names what new added, changed and removed against old (both by name).
func diff[T any](old, new []T, name func(T) string) api.Changes {
	var ch api.Changes
	was := map[string]T{}
	for _, o := range old {
		was[name(o)] = o
	}
	for _, n := range new {
		o, ok := was[name(n)]
		switch {
		case !ok:
			ch.Added = append(ch.Added, name(n))
		case !reflect.DeepEqual(o, n):
			ch.Changed = append(ch.Changed, name(n))
		}
		delete(was, name(n))
	}
	for k := range was {
		ch.Removed = append(ch.Removed, k)
	}
	slices.Sort(ch.Removed)
	return ch
}
