package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bmc-sched/bmc/assoc"
)

// Associations (schema 4): accounts and users as package assoc checks them,
// one record each, keyed by name. The controller checks a whole tree before
// it writes a change, so the buckets always hold one that NewTree accepts.

// Associations reads every account and user record.
func (t *Tx) Associations() ([]assoc.Account, []assoc.User, error) {
	var accts []assoc.Account
	err := t.tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
		var a assoc.Account
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("account %q: decode: %w", k, badRecord(err))
		}
		accts = append(accts, a)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var users []assoc.User
	err = t.tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
		var u assoc.User
		if err := json.Unmarshal(v, &u); err != nil {
			return fmt.Errorf("user %q: decode: %w", k, badRecord(err))
		}
		users = append(users, u)
		return nil
	})
	return accts, users, err
}

// PutAccount writes an account, replacing the one of its name.
func (t *Tx) PutAccount(a *assoc.Account) error {
	return putNamed(t, bucketAccounts, "account", a.Name, a)
}

// DeleteAccount removes an account record; a missing one is ErrNotFound.
func (t *Tx) DeleteAccount(name string) error {
	return deleteNamed(t, bucketAccounts, "account", name)
}

// PutUser writes a user's associations, replacing the record of their name.
func (t *Tx) PutUser(u *assoc.User) error {
	return putNamed(t, bucketUsers, "user", u.Name, u)
}

// DeleteUser removes a user record; a missing one is ErrNotFound.
func (t *Tx) DeleteUser(name string) error {
	return deleteNamed(t, bucketUsers, "user", name)
}

// ReplaceAssociations makes the records exactly accts and users (an import
// of the file a site keeps in git).
func (t *Tx) ReplaceAssociations(accts []assoc.Account, users []assoc.User) error {
	for _, b := range [][]byte{bucketAccounts, bucketUsers} {
		if err := t.tx.DeleteBucket(b); err != nil {
			return err
		}
		if _, err := t.tx.CreateBucket(b); err != nil {
			return err
		}
	}
	for i := range accts {
		if err := t.PutAccount(&accts[i]); err != nil {
			return err
		}
	}
	for i := range users {
		if err := t.PutUser(&users[i]); err != nil {
			return err
		}
	}
	return nil
}

func putNamed(t *Tx, bucket []byte, kind, name string, v any) error {
	if name == "" {
		return fmt.Errorf("put %s: no name", kind)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s %s: encode: %w", kind, name, err)
	}
	return t.tx.Bucket(bucket).Put([]byte(name), b)
}

func deleteNamed(t *Tx, bucket []byte, kind, name string) error {
	b := t.tx.Bucket(bucket)
	if b.Get([]byte(name)) == nil {
		return fmt.Errorf("%s %s: %w", kind, name, ErrNotFound)
	}
	return b.Delete([]byte(name))
}

// CarbonHour is one imported grid carbon intensity, gCO2e/kWh for the
// hour that starts at its key's time.
type CarbonHour struct {
	At      time.Time `json:"-"`
	GPerKWh float64   `json:"g_per_kwh"`
}

// PutCarbonHours writes imported intensities, replacing those of the same
// hours.
func (t *Tx) PutCarbonHours(hs []CarbonHour) error {
	b := t.tx.Bucket(bucketCarbon)
	for _, h := range hs {
		v, err := json.Marshal(h)
		if err != nil {
			return err
		}
		if err := b.Put(binary.BigEndian.AppendUint64(nil, uint64(h.At.UnixNano())), v); err != nil {
			return err
		}
	}
	return nil
}

// CarbonHours reads every imported intensity, by time.
func (t *Tx) CarbonHours() ([]CarbonHour, error) {
	var out []CarbonHour
	err := t.tx.Bucket(bucketCarbon).ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("carbon key %x: not a time", k)
		}
		var h CarbonHour
		if err := json.Unmarshal(v, &h); err != nil {
			return fmt.Errorf("carbon %x: decode: %w", k, badRecord(err))
		}
		h.At = time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC()
		out = append(out, h)
		return nil
	})
	return out, err
}
