package userfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/bmc-sched/bmc/internal/testenv"
)

func TestReadsAsTheUser(t *testing.T) {
	testenv.NeedRoot(t, "switch identity")
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("root only"), 0o600)
	group := filepath.Join(dir, "group")
	os.WriteFile(group, []byte("gid 0 may read"), 0o640) // owner root, group root
	public := filepath.Join(dir, "public")
	os.WriteFile(public, []byte("anyone"), 0o644)
	os.Symlink(secret, filepath.Join(dir, "link"))
	nobody := Identity{UID: 65534, GID: 65534}

	for _, p := range []string{secret, group, filepath.Join(dir, "link")} {
		if _, err := Open(nobody, p, os.O_RDONLY); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s: %v, want permission denied", p, err)
		}
	}
	f, err := Open(nobody, public, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	// The daemon's own identity is untouched afterwards.
	f, err = os.Open(secret)
	if err != nil {
		t.Fatalf("root lost its identity: %v", err)
	}
	f.Close()

	root, err := OpenRoot(nobody, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.Open("secret"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Root.Open(secret): %v", err)
	}
	if _, err := root.Open("link"); err == nil {
		t.Error("Root.Open followed a symlink")
	}
	if _, err := root.Open("../" + filepath.Base(dir) + "/public"); err == nil {
		t.Error("Root.Open left the directory")
	}
	if f, err := root.Open("public"); err != nil {
		t.Error(err)
	} else {
		f.Close()
	}
}
