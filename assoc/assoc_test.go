package assoc

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones are in the test, whatever the machine has
)

func science(t *testing.T) *Tree {
	t.Helper()
	tr, err := NewTree([]Account{
		{Name: "science", Coordinators: []string{"dean"}},
		{Name: "physics", Parent: "science", Shares: 2, Coordinators: []string{"ann"}, Limit: Limit{EnergyKWh: 50}},
		{Name: "optics", Parent: "physics"},
		{Name: "chemistry", Parent: "science"},
		{Name: "ops"},
	}, []User{
		{Name: "ann", Accounts: []string{"physics", "chemistry"}, DefaultAccount: "physics"},
		{Name: "bob", Accounts: []string{"optics"}, Limit: Limit{EnergyKWh: 5, Period: "none"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestNewTreeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		accts []Account
		users []User
		want  string
	}{
		{"bad name", []Account{{Name: "-x"}}, nil, `account name "-x"`},
		{"twice", []Account{{Name: "a"}, {Name: "a"}}, nil, "account a: listed twice"},
		{"no parent", []Account{{Name: "a", Parent: "b"}}, nil, "account a: parent b does not exist"},
		{"cycle", []Account{{Name: "a", Parent: "b"}, {Name: "b", Parent: "a"}}, nil, "is its own ancestor"},
		{"shares", []Account{{Name: "a", Shares: -1}}, nil, "shares -1"},
		{"limit", []Account{{Name: "a", Limit: Limit{EnergyKWh: math.NaN()}}}, nil, "energy limit NaN"},
		{"period", []Account{{Name: "a", Limit: Limit{EnergyKWh: 1, Period: "monthly"}}}, nil, `account a: period: schedule "monthly"`},
		{"description", []Account{{Name: "a", Description: "x\x1b[2J"}}, nil, "no control characters"},
		{"coordinator", []Account{{Name: "a", Coordinators: []string{"a b"}}}, nil, `account a: coordinator name "a b"`},
		{"user no account", []Account{{Name: "a"}}, []User{{Name: "u"}}, "user u: no account"},
		{"user unknown account", []Account{{Name: "a"}}, []User{{Name: "u", Accounts: []string{"b"}}}, "user u: account b does not exist"},
		{"user twice", []Account{{Name: "a"}}, []User{{Name: "u", Accounts: []string{"a"}}, {Name: "u", Accounts: []string{"a"}}}, "user u: listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewTree(tc.accts, tc.users)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// A default account not listed is added; no default takes the first.
	tr, err := NewTree([]Account{{Name: "a"}, {Name: "b"}}, []User{{Name: "u", DefaultAccount: "b", Accounts: []string{"a"}}, {Name: "v", Accounts: []string{"b", "a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := tr.User("u"); !reflect.DeepEqual(u.Accounts, []string{"a", "b"}) || u.DefaultAccount != "b" {
		t.Errorf("u: %+v", u)
	}
	if v, _ := tr.User("v"); v.DefaultAccount != "b" {
		t.Errorf("v: %+v", v)
	}
}

func TestResolve(t *testing.T) {
	tr := science(t)
	empty, _ := NewTree(nil, nil)
	for _, tc := range []struct {
		name            string
		tree            *Tree
		enforce         bool
		user, requested string
		want, err       string
	}{
		{"open: any name goes", empty, false, "eve", "anything", "anything", ""},
		{"open: none stays none", empty, false, "eve", "", "", ""},
		{"enforced by flag with no accounts: nobody may submit", empty, true, "eve", "", "", "user eve has no account"},
		{"member, named", tr, false, "ann", "chemistry", "chemistry", ""},
		{"member, default", tr, false, "ann", "", "physics", ""},
		{"not a member", tr, false, "bob", "physics", "", "user bob may not charge account physics; yours: optics (default)"},
		{"no such account", tr, false, "ann", "physcis", "", `account "physcis" does not exist; yours: chemistry, physics (default)`},
		{"a member of a child is not of the parent", tr, false, "bob", "science", "", "may not charge account science"},
		{"no record", tr, false, "eve", "", "", "user eve has no account on this cluster; an admin adds one with bmcq user add eve --account NAME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.tree.Resolve(tc.user, tc.requested, tc.enforce)
			if tc.err != "" {
				if !errors.Is(err, ErrNotMember) || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
					t.Errorf("err = %v, want one line with %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("= %q %v, want %q", got, err, tc.want)
			}
		})
	}
}

func TestCoordinatorsReachDown(t *testing.T) {
	tr := science(t)
	for _, tc := range []struct {
		user, account string
		want          bool
	}{
		{"ann", "physics", true}, {"ann", "optics", true}, {"ann", "chemistry", false},
		{"dean", "optics", true}, {"dean", "ops", false}, {"bob", "optics", false}, {"ann", "", false}, {"ann", "nope", false},
	} {
		if got := tr.Coordinates(tc.user, tc.account); got != tc.want {
			t.Errorf("Coordinates(%s, %s) = %v", tc.user, tc.account, got)
		}
	}
	if got := tr.Coordinated("ann"); !reflect.DeepEqual(got, []string{"optics", "physics"}) {
		t.Errorf("ann coordinates %v", got)
	}
}

func TestChangesKeepTheTreeWhole(t *testing.T) {
	tr := science(t)
	if _, err := tr.WithoutAccount("physics"); err == nil || !strings.Contains(err.Error(), "has accounts below it (optics)") {
		t.Errorf("delete a parent: %v", err)
	}
	if _, err := tr.WithoutAccount("chemistry"); err == nil || !strings.Contains(err.Error(), "is charged by ann") {
		t.Errorf("delete a charged account: %v", err)
	}
	next, err := tr.WithoutAccount("ops")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := next.Account("ops"); ok {
		t.Error("ops still there")
	}
	if _, ok := tr.Account("ops"); !ok {
		t.Error("the old tree changed")
	}
	if _, err := tr.WithAccount(Account{Name: "science", Parent: "optics"}); err == nil {
		t.Error("a cycle through a change was accepted")
	}
	next, err = tr.WithUser(User{Name: "bob", Accounts: []string{"optics", "ops"}, DefaultAccount: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := next.Resolve("bob", "", false); a != "ops" {
		t.Errorf("bob's new default: %s", a)
	}
}

func TestFairShare(t *testing.T) {
	tr, err := NewTree([]Account{{Name: "a"}, {Name: "b"}, {Name: "a1", Parent: "a", Shares: 3}, {Name: "a2", Parent: "a"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := FairShare(tr, map[string]float64{"a1": 300, "a2": 100, "b": 400, "stray": 0})
	want := []struct {
		name        string
		depth       int
		norm, usage float64
	}{{"a", 0, 1.0 / 3, 0.5}, {"a1", 1, 0.25, 0.375}, {"a2", 1, 1.0 / 12, 0.125}, {"b", 0, 1.0 / 3, 0.5}, {"stray", 0, 1.0 / 3, 0}}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.Account != w.name || g.Depth != w.depth || math.Abs(g.NormShares-w.norm) > 1e-12 || math.Abs(g.NormUsage-w.usage) > 1e-12 {
			t.Errorf("%d: %+v, want %+v", i, g, w)
		}
		if f := math.Exp2(-w.usage / w.norm); math.Abs(g.Factor-f) > 1e-12 {
			t.Errorf("%s factor %g, want %g", w.name, g.Factor, f)
		}
	}
	// Used exactly its share: one half; nothing: one.
	two, _ := NewTree([]Account{{Name: "x"}, {Name: "y"}}, nil)
	if f := Factors(FairShare(two, map[string]float64{"x": 5, "y": 5})); f["x"] != 0.5 || f["y"] != 0.5 {
		t.Errorf("equal use of equal shares: %v", f)
	}
	if f := Factors(FairShare(tr, nil)); f["a"] != 1 || f["b"] != 1 {
		t.Errorf("no usage: %v", f)
	}
}

func TestBudgetsAndKeys(t *testing.T) {
	tr := science(t)
	paris, _ := time.LoadLocation("Europe/Paris")
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, paris)
	bs := tr.Budgets(now, paris)
	if len(bs) != 2 || bs[0].Key != (Key{KindAccount, "physics"}) || bs[1].Key != (Key{KindUser, "bob"}) {
		t.Fatalf("%+v", bs)
	}
	if !bs[0].Since.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, paris)) || !bs[0].Reset.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, paris)) {
		t.Errorf("monthly period %v .. %v", bs[0].Since, bs[0].Reset)
	}
	if !bs[1].Since.IsZero() || !bs[1].Reset.IsZero() {
		t.Errorf("a limit that never resets has a period: %+v", bs[1])
	}
	if got := tr.KeysFor("bob", "optics"); !reflect.DeepEqual(got, []Key{{KindAccount, "physics"}, {KindUser, "bob"}}) {
		t.Errorf("bob in optics draws on %v", got)
	}
	if got := tr.KeysFor("ann", "chemistry"); got != nil {
		t.Errorf("ann in chemistry draws on %v", got)
	}
}
