package store

import (
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// WriteBackup writes a consistent copy of the state to path while the store
// stays in use: one read transaction's view (Tx.WriteTo), into a temporary
// file beside path that is synced, then renamed over path and the directory
// synced, so path is always a whole backup or absent. The copy is then
// verified (Verify) and removed again if it is not sound.
//
// The read transaction keeps bbolt from remapping the file while it runs;
// the 1 GiB initial mapping makes a remap rare, and writers are not blocked
// otherwise.
func (s *Store) WriteBackup(path string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = s.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(tmp)
		return err
	})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup %s: %w", path, err)
	}
	if err := Verify(tmp.Name()); err != nil {
		return fmt.Errorf("backup %s: the copy does not verify: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
