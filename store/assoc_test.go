package store

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/assoc"
)

func TestAssociationsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	phys := assoc.Account{Name: "physics", Shares: 2, Coordinators: []string{"ann"}, Limit: assoc.Limit{EnergyKWh: 50, Period: "@weekly"}}
	ann := assoc.User{Name: "ann", DefaultAccount: "physics", Accounts: []string{"physics"}}
	err := s.Update(func(tx *Tx) error {
		if err := tx.PutAccount(&phys); err != nil {
			return err
		}
		if err := tx.PutAccount(&assoc.Account{Name: "ops", Shares: 1}); err != nil {
			return err
		}
		return tx.PutUser(&ann)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	var accts []assoc.Account
	var users []assoc.User
	s.View(func(tx *Tx) error { accts, users, err = tx.Associations(); return err })
	if err != nil || len(accts) != 2 || !reflect.DeepEqual(accts[1], phys) || !reflect.DeepEqual(users, []assoc.User{ann}) {
		t.Fatalf("after reopen: %+v %+v %v", accts, users, err)
	}
	err = s.Update(func(tx *Tx) error { return tx.DeleteAccount("nope") })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("delete a missing account: %v", err)
	}
	err = s.Update(func(tx *Tx) error {
		return tx.ReplaceAssociations([]assoc.Account{{Name: "chem", Shares: 1}}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error { accts, users, err = tx.Associations(); return err })
	if len(accts) != 1 || accts[0].Name != "chem" || len(users) != 0 {
		t.Errorf("after replace: %+v %+v", accts, users)
	}
}

func TestCarbonHoursRoundTrip(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	at := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	in := []CarbonHour{{At: at.Add(time.Hour), GPerKWh: 120}, {At: at, GPerKWh: 310.5}}
	if err := s.Update(func(tx *Tx) error { return tx.PutCarbonHours(in) }); err != nil {
		t.Fatal(err)
	}
	// The same hour again replaces it.
	if err := s.Update(func(tx *Tx) error { return tx.PutCarbonHours([]CarbonHour{{At: at, GPerKWh: 300}}) }); err != nil {
		t.Fatal(err)
	}
	var got []CarbonHour
	s.View(func(tx *Tx) error { var err error; got, err = tx.CarbonHours(); return err })
	want := []CarbonHour{{At: at, GPerKWh: 300}, {At: at.Add(time.Hour), GPerKWh: 120}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
