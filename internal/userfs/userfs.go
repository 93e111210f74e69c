// Package userfs opens files with a user's file-system identity, so that
// bmcctld, which runs as root, reads for a user only what that user could
// read: the kernel checks every path component, symlink and mode bit as the
// user, and the controller then reads the open descriptor, never the path.
package userfs

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Identity is a user's file-system identity: uid, primary gid and the
// supplementary groups the kernel checks group permission against.
type Identity struct {
	UID, GID uint32
	Groups   []uint32
}

// Lookup returns uid's identity with the supplementary groups the user
// database lists. When the database does not know uid, only gid counts:
// a user is never given more groups than can be shown to be theirs.
func Lookup(uid, gid uint32) Identity {
	id := Identity{UID: uid, GID: gid}
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return id
	}
	gids, err := u.GroupIds()
	if err != nil {
		return id
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil && uint32(n) != gid {
			id.Groups = append(id.Groups, uint32(n))
		}
	}
	return id
}

// switches reports whether Do changes identity: only root can, and only
// for someone other than root.
func (id Identity) switches() bool { return os.Geteuid() == 0 && id.UID != 0 }

// Do runs fn on a fresh OS thread whose fs uid, fs gid and groups are id's.
// The thread is never given back to the Go scheduler: the goroutine ends
// still locked to it, so the runtime discards it and no other code ever
// runs with the borrowed identity. When bmcctld is not root it cannot
// switch, and fn runs as the daemon (which can read no more than it can).
func Do(id Identity, fn func() error) error {
	if !id.switches() {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		if err := become(id); err != nil {
			done <- err
			return
		}
		done <- fn()
	}()
	return <-done
}

// become sets this thread's groups, fs gid and fs uid (in that order: the
// uid last, since dropping it also drops the right to change the others).
func become(id Identity) error {
	groups := make([]int, 0, len(id.Groups)+1)
	groups = append(groups, int(id.GID))
	for _, g := range id.Groups {
		groups = append(groups, int(g))
	}
	// x/sys's Setgroups is the raw, per-thread system call (the syscall
	// package's applies to every thread of the process).
	if err := unix.Setgroups(groups); err != nil {
		return fmt.Errorf("userfs: setgroups: %w", err)
	}
	unix.Setfsgid(int(id.GID))
	unix.Setfsuid(int(id.UID))
	// setfsuid reports no failure; asking with an invalid id returns the
	// current one without changing it.
	if cur, _ := unix.SetfsuidRetUid(-1); cur != int(id.UID) {
		return errors.New("userfs: setfsuid did not take")
	}
	if cur, _ := unix.SetfsgidRetGid(-1); cur != int(id.GID) {
		return errors.New("userfs: setfsgid did not take")
	}
	return nil
}

// Open opens path as id. Symlinks are followed as id follows them.
func Open(id Identity, path string, flag int) (*os.File, error) {
	var f *os.File
	err := Do(id, func() error {
		var err error
		f, err = os.OpenFile(path, flag, 0)
		return err
	})
	return f, err
}

// Root is a directory opened as a user. Names opened through it stay
// beneath it (os.Root refuses "..", absolute symlinks and symlinks that
// leave it) and are checked as the user.
type Root struct {
	id   Identity
	root *os.Root
}

// OpenRoot opens dir as id.
func OpenRoot(id Identity, dir string) (*Root, error) {
	var r *os.Root
	err := Do(id, func() error {
		var err error
		r, err = os.OpenRoot(dir)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Root{id: id, root: r}, nil
}

// Open opens name, relative to the root, read-only as the root's user,
// never through a symlink in its last component and without blocking on a
// FIFO (the caller checks what it opened).
func (r *Root) Open(name string) (*os.File, error) {
	var f *os.File
	err := Do(r.id, func() error {
		var err error
		f, err = r.root.OpenFile(name, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
		return err
	})
	return f, err
}

// Close closes the directory.
func (r *Root) Close() error { return r.root.Close() }
