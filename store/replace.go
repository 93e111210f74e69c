package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Replace puts a copy of the file at from in place of the state file at
// path, under the state file's lock (ErrInUse while a bmcctld holds it).
// The copy is written beside path, synced and verified first; the old state
// file, if there is one, is then linked as aside (aside.1, aside.2, … if
// that name is taken), so path never points at nothing; then the copy is
// renamed over path. It returns the name the old file is kept under, or ""
// if there was none.
func Replace(path, from, aside string) (kept string, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	exists := err == nil
	switch {
	case exists:
		defer f.Close()
		if err := lockNow(f); err != nil {
			return "", err
		}
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	}
	tmp, err := copyBeside(from, path)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	if err := Verify(tmp); err != nil {
		return "", fmt.Errorf("the copy of %s does not verify: %w", from, err)
	}
	if exists {
		if kept, err = link(path, aside); err != nil {
			return "", err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return kept, err
	}
	return kept, syncDir(filepath.Dir(path))
}

// copyBeside copies src to a temporary file in dst's directory, synced.
func copyBeside(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".restore-*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Name(), nil
}

// link makes a hard link to path named name, or name.1, name.2, … if taken.
func link(path, name string) (string, error) {
	for i := 0; i <= 100; i++ {
		n := name
		if i > 0 {
			n += "." + strconv.Itoa(i)
		}
		err := os.Link(path, n)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("keep the old state file: %w", err)
		}
	}
	return "", fmt.Errorf("keep the old state file: %s.1 … %s.100 are all taken", name, name)
}
