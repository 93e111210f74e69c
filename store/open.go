package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrInUse: another process (a running bmcctld) holds the state file's lock.
var ErrInUse error = inUse{}

// inUse is also bbolt's lock timeout, for callers that know that one.
type inUse struct{}

func (inUse) Error() string        { return "another bmcctld holds it" }
func (inUse) Is(target error) bool { return target == bolt.ErrTimeout }

// lockPoll is how often a locked file is tried again, as bbolt does.
const lockPoll = 50 * time.Millisecond

// lockFile opens path and takes bbolt's own lock on it (flock: exclusive for
// writing, shared for reading), trying until timeout (0: once). bbolt then
// locks the same open file again, which succeeds, so nothing can take the
// file between the check and bbolt's mapping of it. created says the file
// did not exist and was made empty here.
func lockFile(path string, write bool, timeout time.Duration) (f *os.File, created bool, err error) {
	flag, how := os.O_RDONLY, syscall.LOCK_SH
	if write {
		flag, how = os.O_RDWR, syscall.LOCK_EX
	}
	f, err = os.OpenFile(path, flag, 0)
	if write && errors.Is(err, os.ErrNotExist) {
		f, err = os.OpenFile(path, flag|os.O_CREATE|os.O_EXCL, 0o600)
		created = err == nil
	}
	if err != nil {
		return nil, false, err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return f, created, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || !time.Now().Before(deadline) {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, false, ErrInUse
			}
			return nil, false, fmt.Errorf("lock: %w", err)
		}
		time.Sleep(lockPoll)
	}
}

// lockNow takes the exclusive lock on an open state file, or says who has it.
func lockNow(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrInUse
	}
	return err
}

// openChecked opens the state file for Open: it takes the lock, checks
// every page (checkFile) before bbolt maps the file, then opens it and runs
// bbolt's own consistency check. Any failure is a *DamageError.
func openChecked(path string, opt Options) (*bolt.DB, error) {
	f, created, err := lockFile(path, true, opt.Timeout)
	if err != nil {
		return nil, err
	}
	if !created {
		if err := checkFile(path, f); err != nil {
			f.Close()
			return nil, err
		}
	}
	// A large initial mapping is address space, not memory: bbolt grows its
	// mapping by remapping, and a remap inside a write transaction copies
	// every key and value the transaction touched onto the heap. A
	// 10,000-task array crossed a remap boundary several times in its one
	// commit and allocated 112 MB doing so (bench/core). etcd maps 10 GB.
	bo := &bolt.Options{Timeout: opt.Timeout, NoSync: opt.NoSync, InitialMmapSize: initialMmapSize}
	return openBolt(path, f, bo, !created)
}

// Verify checks a state file or a backup that no bmcctld has open: every
// page, then bbolt's consistency check, read-only. It returns nil, a
// *DamageError, or the error that kept it from reading the file.
func Verify(path string) error {
	f, _, err := lockFile(path, false, 0)
	if err != nil {
		return err
	}
	if err := checkFile(path, f); err != nil {
		f.Close()
		return err
	}
	db, err := openBolt(path, f, &bolt.Options{ReadOnly: true}, true)
	if err != nil {
		return err
	}
	return db.Close()
}

// openBolt opens the checked file f with bbolt, on this goroutine, with a
// memory fault turned into a panic it recovers, so that damage checkFile
// cannot see (it is not expected to let any through) still ends in an error
// rather than a crash. check runs bbolt's Tx.Check.
func openBolt(path string, f *os.File, bo *bolt.Options, check bool) (db *bolt.DB, err error) {
	bo.OpenFile = func(string, int, os.FileMode) (*os.File, error) { return f, nil }
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			f.Close()
			db, err = nil, &DamageError{Path: path, Reason: firstLine(fmt.Sprint(p))}
		}
	}()
	db, err = bolt.Open(path, 0o600, bo)
	switch {
	case errors.Is(err, bolt.ErrInvalid), errors.Is(err, bolt.ErrChecksum), errors.Is(err, bolt.ErrVersionMismatch):
		return nil, &DamageError{Path: path, Reason: err.Error()}
	case err != nil:
		return nil, err
	}
	if !check {
		return db, nil
	}
	// Tx.Check reports on its own goroutine; checkFile has already made
	// sure that every page it follows is inside the file.
	err = db.View(func(tx *bolt.Tx) error {
		var first error
		for e := range tx.Check() {
			if first == nil {
				first = e
			}
		}
		return first
	})
	if err != nil {
		db.Close()
		return nil, &DamageError{Path: path, Reason: firstLine(err.Error())}
	}
	return db, nil
}

// restoreHint is what store.Open adds to a *DamageError of the state file.
func restoreHint(path string) string {
	return fmt.Sprintf("keep it and go back to the newest good backup with: bmcctld --restore --state-dir %s", filepath.Dir(path))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
