package assoc

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Tree is a checked, immutable set of accounts and users: every parent
// and every user's account exists, the accounts form a tree, and each
// user has a default account. Build one with NewTree; change one by
// building the next (With..., Without...).
type Tree struct {
	accounts map[string]Account
	users    map[string]User
	children map[string][]string // by parent, sorted; "" holds the top
}

// MaxRecords bounds how many accounts, and how many users, a tree holds.
const MaxRecords = 100000

// NewTree checks accounts and users as a whole. Records are normalized:
// shares default to 1, a user's default account is among their accounts.
func NewTree(accounts []Account, users []User) (*Tree, error) {
	if len(accounts) > MaxRecords || len(users) > MaxRecords {
		return nil, fmt.Errorf("%w: more than %d accounts or users", ErrInvalid, MaxRecords)
	}
	t := &Tree{accounts: make(map[string]Account, len(accounts)), users: make(map[string]User, len(users)), children: map[string][]string{}}
	for _, a := range accounts {
		a = a.normalized()
		if err := CheckName("account", a.Name); err != nil {
			return nil, err
		}
		if _, dup := t.accounts[a.Name]; dup {
			return nil, bad("account", a.Name, "listed twice")
		}
		if a.Shares < 1 || a.Shares > 1e6 {
			return nil, bad("account", a.Name, "shares %d is outside 1..1000000", a.Shares)
		}
		for _, c := range a.Coordinators {
			if err := CheckName("coordinator", c); err != nil {
				return nil, bad("account", a.Name, "%v", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
			}
		}
		if err := checkText("account", a.Name, "description", a.Description, 256); err != nil {
			return nil, err
		}
		if err := checkJobs("account", a.Name, a.Jobs); err != nil {
			return nil, err
		}
		if err := checkLimit("account", a.Name, a.Limit); err != nil {
			return nil, err
		}
		t.accounts[a.Name] = a
	}
	for _, a := range t.accounts {
		if a.Parent != "" {
			if _, ok := t.accounts[a.Parent]; !ok {
				return nil, bad("account", a.Name, "parent %s does not exist", a.Parent)
			}
		}
		t.children[a.Parent] = append(t.children[a.Parent], a.Name)
	}
	for _, kids := range t.children {
		slices.Sort(kids)
	}
	// Every account must be reachable from the top: one that is not sits
	// on a cycle of parents.
	reached := 0
	var walk func(string)
	walk = func(name string) {
		for _, k := range t.children[name] {
			reached++
			walk(k)
		}
	}
	walk("")
	if reached != len(t.accounts) {
		for _, a := range t.sortedAccounts() {
			if t.cyclic(a.Name) {
				return nil, bad("account", a.Name, "is its own ancestor")
			}
		}
	}
	for _, u := range users {
		u = u.normalized()
		if err := CheckName("user", u.Name); err != nil {
			return nil, err
		}
		if _, dup := t.users[u.Name]; dup {
			return nil, bad("user", u.Name, "listed twice")
		}
		if len(u.Accounts) == 0 {
			return nil, bad("user", u.Name, "no account; give at least one")
		}
		for _, a := range u.Accounts {
			if _, ok := t.accounts[a]; !ok {
				return nil, bad("user", u.Name, "account %s does not exist", a)
			}
		}
		if err := checkJobs("user", u.Name, u.Jobs); err != nil {
			return nil, err
		}
		if err := checkLimit("user", u.Name, u.Limit); err != nil {
			return nil, err
		}
		t.users[u.Name] = u
	}
	return t, nil
}

func (t *Tree) cyclic(name string) bool {
	seen := map[string]bool{}
	for a := name; a != ""; a = t.accounts[a].Parent {
		if seen[a] {
			return true
		}
		seen[a] = true
	}
	return false
}

// Empty reports whether no account is defined: then associations are not
// enforced unless the controller is told to.
func (t *Tree) Empty() bool { return t == nil || len(t.accounts) == 0 }

// Accounts returns every account, by name.
func (t *Tree) Accounts() []Account {
	if t == nil {
		return nil
	}
	return t.sortedAccounts()
}

func (t *Tree) sortedAccounts() []Account {
	out := make([]Account, 0, len(t.accounts))
	for _, a := range t.accounts {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Account) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Users returns every user, by name.
func (t *Tree) Users() []User {
	if t == nil {
		return nil
	}
	out := make([]User, 0, len(t.users))
	for _, u := range t.users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b User) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Account returns one account.
func (t *Tree) Account(name string) (Account, bool) {
	if t == nil {
		return Account{}, false
	}
	a, ok := t.accounts[name]
	return a, ok
}

// User returns one user's associations.
func (t *Tree) User(name string) (User, bool) {
	if t == nil {
		return User{}, false
	}
	u, ok := t.users[name]
	return u, ok
}

// Children returns the accounts directly below name ("" for the top), by name.
func (t *Tree) Children(name string) []string {
	if t == nil {
		return nil
	}
	return slices.Clone(t.children[name])
}

// Ancestors returns name and the accounts above it, nearest first. An
// account the tree does not hold is its own only ancestor.
func (t *Tree) Ancestors(name string) []string {
	out := []string{name}
	if t == nil {
		return out
	}
	for a := t.accounts[name].Parent; a != ""; a = t.accounts[a].Parent {
		out = append(out, a)
	}
	return out
}

// Members returns the users who may charge account, by name.
func (t *Tree) Members(account string) []string {
	var out []string
	for _, u := range t.Users() {
		if slices.Contains(u.Accounts, account) {
			out = append(out, u.Name)
		}
	}
	return out
}

// Coordinates reports whether user coordinates account: is a coordinator
// of it or of an account above it (as in Slurm, a coordinator's rights
// reach the sub-accounts).
func (t *Tree) Coordinates(user, account string) bool {
	if t == nil || account == "" {
		return false
	}
	if _, ok := t.accounts[account]; !ok {
		return false
	}
	for _, a := range t.Ancestors(account) {
		if slices.Contains(t.accounts[a].Coordinators, user) {
			return true
		}
	}
	return false
}

// Coordinated returns the accounts user coordinates, with those below them.
func (t *Tree) Coordinated(user string) []string {
	var out []string
	for _, a := range t.Accounts() {
		if t.Coordinates(user, a.Name) {
			out = append(out, a.Name)
		}
	}
	return out
}

// Resolve returns the account a job of user is billed to when it names
// requested ("" for none). Unenforced (no accounts, and the controller not
// told to enforce), any name goes, and a job that names none takes the
// user's default if the user has a record. Enforced, the account must
// exist and list the user; a job that names none takes the user's default,
// and a user without a record cannot submit. Errors are one line.
func (t *Tree) Resolve(user, requested string, enforce bool) (string, error) {
	u, known := t.User(user)
	if !enforce && t.Empty() {
		if requested == "" && known {
			return u.DefaultAccount, nil
		}
		return requested, nil
	}
	if !known {
		return "", notMember(fmt.Sprintf("user %s has no account on this cluster; an admin adds one with bmcq user add %s --account NAME", user, user))
	}
	if requested == "" {
		return u.DefaultAccount, nil
	}
	if _, ok := t.Account(requested); !ok {
		return "", notMember(fmt.Sprintf("account %q does not exist; yours: %s", requested, u.list()))
	}
	if !slices.Contains(u.Accounts, requested) {
		return "", notMember(fmt.Sprintf("user %s may not charge account %s; yours: %s", user, requested, u.list()))
	}
	return requested, nil
}

// notMember is a refused account: the message says it all, and it is
// ErrNotMember for errors.Is.
type notMember string

func (e notMember) Error() string        { return string(e) }
func (e notMember) Is(target error) bool { return target == ErrNotMember }

// list names u's accounts, the default marked.
func (u User) list() string {
	out := make([]string, len(u.Accounts))
	for i, a := range u.Accounts {
		out[i] = a
		if a == u.DefaultAccount {
			out[i] += " (default)"
		}
	}
	return strings.Join(out, ", ")
}

// WithAccount returns the tree with a added, or replacing the account of
// its name.
func (t *Tree) WithAccount(a Account) (*Tree, error) {
	accts := t.Accounts()
	if i := slices.IndexFunc(accts, func(x Account) bool { return x.Name == a.Name }); i >= 0 {
		accts[i] = a
	} else {
		accts = append(accts, a)
	}
	return NewTree(accts, t.Users())
}

// WithoutAccount returns the tree without account name. An account that
// has accounts below it, or users who charge it, stays: the error names
// them.
func (t *Tree) WithoutAccount(name string) (*Tree, error) {
	if _, ok := t.Account(name); !ok {
		return nil, bad("account", name, "does not exist")
	}
	if kids := t.Children(name); len(kids) > 0 {
		return nil, bad("account", name, "has accounts below it (%s); delete or move them first", strings.Join(kids, ", "))
	}
	if m := t.Members(name); len(m) > 0 {
		return nil, bad("account", name, "is charged by %s; take it from them first (bmcq user modify)", strings.Join(m, ", "))
	}
	accts := slices.DeleteFunc(t.Accounts(), func(a Account) bool { return a.Name == name })
	return NewTree(accts, t.Users())
}

// WithUser returns the tree with u added, or replacing the user of its name.
func (t *Tree) WithUser(u User) (*Tree, error) {
	users := t.Users()
	if i := slices.IndexFunc(users, func(x User) bool { return x.Name == u.Name }); i >= 0 {
		users[i] = u
	} else {
		users = append(users, u)
	}
	return NewTree(t.Accounts(), users)
}

// WithoutUser returns the tree without user name.
func (t *Tree) WithoutUser(name string) (*Tree, error) {
	if _, ok := t.User(name); !ok {
		return nil, bad("user", name, "does not exist")
	}
	users := slices.DeleteFunc(t.Users(), func(u User) bool { return u.Name == name })
	return NewTree(t.Accounts(), users)
}
