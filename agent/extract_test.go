package agent

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bmc-sched/bmc/internal/testenv"
)

type entry struct {
	name, link, body string
	typ              byte
	mode             int64
}

func mkTar(t testing.TB, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sandbox returns root inside a parent directory that also holds a canary
// directory "outside", so escapes are visible.
func sandbox(t testing.TB) (parent, root string) {
	parent = t.TempDir()
	root = filepath.Join(parent, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "outside"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	return parent, root
}

// assertContained fails if anything but root/ and the canary exists in parent
// or the canary changed.
func assertContained(t testing.TB, parent string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "root" && e.Name() != "outside" {
			t.Fatalf("extraction escaped the root: %s appeared beside it", e.Name())
		}
	}
	b, err := os.ReadFile(filepath.Join(parent, "outside"))
	if err != nil || string(b) != "keep" {
		t.Fatalf("canary outside the root changed: %q, %v", b, err)
	}
}

func TestExtractImage(t *testing.T) {
	parent, root := sandbox(t)
	data := mkTar(t,
		entry{name: "./", typ: tar.TypeDir, mode: 0o755},
		entry{name: "./usr/bin/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "./usr/bin/hello", typ: tar.TypeReg, body: "#!/bin/sh\necho hi\n", mode: 0o4755},
		entry{name: "./bin", typ: tar.TypeSymlink, link: "usr/bin"},
		entry{name: "./usr/bin/hello2", typ: tar.TypeLink, link: "./usr/bin/hello"},
		entry{name: "etc/passwd", typ: tar.TypeReg, body: "root:x:0:0:root:/root:/bin/sh\n"}, // parent created implicitly
		entry{name: "/abs/file", typ: tar.TypeReg, body: "abs"},                              // GNU tar semantics: under root
		entry{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		entry{name: "run/fifo", typ: tar.TypeFifo, mode: 0o600},
		entry{name: "dev/null", typ: tar.TypeChar, mode: 0o666},
		entry{name: "etc/passwd", typ: tar.TypeReg, body: "root:x:0:0::/root:/bin/sh\n"}, // later entry replaces
	)
	st, err := Extract(bytes.NewReader(data), root, ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertContained(t, parent)
	if st.Files != 4 || st.Symlinks != 1 || st.Hardlinks != 1 || st.Skipped != 2 {
		t.Errorf("stats = %+v", st)
	}
	fi, err := os.Stat(filepath.Join(root, "usr/bin/hello"))
	if err != nil || fi.Mode()&fs.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("hello mode = %v, %v; want setuid 0755", fi.Mode(), err)
	}
	if l, err := os.Readlink(filepath.Join(root, "bin")); err != nil || l != "usr/bin" {
		t.Errorf("bin -> %q, %v", l, err)
	}
	a, _ := os.Stat(filepath.Join(root, "usr/bin/hello"))
	b, _ := os.Stat(filepath.Join(root, "usr/bin/hello2"))
	if !os.SameFile(a, b) {
		t.Error("hello2 is not a hard link of hello")
	}
	if got, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); string(got) != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("passwd = %q: later entry must replace", got)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "abs/file")); string(got) != "abs" {
		t.Errorf("abs/file = %q", got)
	}
	if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || fi.Mode()&fs.ModeSticky == 0 {
		t.Errorf("tmp mode = %v, %v; want sticky", fi.Mode(), err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "run/fifo")); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("fifo = %v, %v", fi, err)
	}
	if _, err := os.Lstat(filepath.Join(root, "dev/null")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("device created without ExtractOptions.Devices: %v", err)
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	tests := []struct {
		name string
		es   []entry
	}{
		{"dotdot", []entry{{name: "../evil", typ: tar.TypeReg, body: "x"}}},
		{"dotdot inside", []entry{{name: "a/../../evil", typ: tar.TypeReg, body: "x"}}},
		{"symlink dir then file through it", []entry{
			{name: "link", typ: tar.TypeSymlink, link: ".."},
			{name: "link/evil", typ: tar.TypeReg, body: "x"},
		}},
		{"absolute symlink dir then file", []entry{
			{name: "link", typ: tar.TypeSymlink, link: "/tmp"},
			{name: "link/evil", typ: tar.TypeReg, body: "x"},
		}},
		{"symlink then dir through it", []entry{
			{name: "link", typ: tar.TypeSymlink, link: ".."},
			{name: "link/evil/", typ: tar.TypeDir},
		}},
		{"hardlink outside", []entry{{name: "h", typ: tar.TypeLink, link: "../outside"}}},
		{"hardlink through symlink", []entry{
			{name: "link", typ: tar.TypeSymlink, link: ".."},
			{name: "h", typ: tar.TypeLink, link: "link/outside"},
		}},
		{"file under a regular file", []entry{
			{name: "f", typ: tar.TypeReg, body: "x"},
			{name: "f/g", typ: tar.TypeReg, body: "x"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, root := sandbox(t)
			_, err := Extract(bytes.NewReader(mkTar(t, tt.es...)), root, ExtractOptions{})
			if !errors.Is(err, ErrUnsafePath) {
				t.Errorf("err = %v, want ErrUnsafePath", err)
			}
			assertContained(t, parent)
		})
	}
}

// A symlink entry replaced by a file must not write through the link.
func TestExtractFileOverSymlinkReplacesLink(t *testing.T) {
	parent, root := sandbox(t)
	data := mkTar(t,
		entry{name: "x", typ: tar.TypeSymlink, link: "../outside"},
		entry{name: "x", typ: tar.TypeReg, body: "new"},
	)
	if _, err := Extract(bytes.NewReader(data), root, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	assertContained(t, parent)
	fi, err := os.Lstat(filepath.Join(root, "x"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("x = %v, %v; want a regular file", fi, err)
	}
}

func TestExtractVerified(t *testing.T) {
	data := mkTar(t, entry{name: "a", typ: tar.TypeReg, body: "hello"})
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	tests := []struct {
		name    string
		data    []byte
		size    int64
		digest  string
		wantErr error
	}{
		{"ok", data, int64(len(data)), digest, nil},
		{"uppercase digest", data, int64(len(data)), "sha256:" + strings.ToUpper(hex.EncodeToString(sum[:])), nil},
		{"short size", data, int64(len(data)) - 512, digest, ErrRootfsMismatch},
		{"long stream", append(append([]byte{}, data...), make([]byte, 512)...), int64(len(data)), digest, ErrRootfsMismatch},
		{"wrong digest", data, int64(len(data)), "sha256:" + strings.Repeat("0", 64), ErrRootfsMismatch},
		{"other algorithm", data, int64(len(data)), "md5:abc", ErrRootfsMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ExtractVerified(bytes.NewReader(tt.data), t.TempDir(), tt.size, tt.digest, ExtractOptions{})
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestWriteFileInRootReplacesSymlink(t *testing.T) {
	parent, root := sandbox(t)
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside", filepath.Join(root, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileInRoot(root, "etc/resolv.conf", []byte("nameserver 10.0.2.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	assertContained(t, parent)
	if b, _ := os.ReadFile(filepath.Join(root, "etc/resolv.conf")); string(b) != "nameserver 10.0.2.3\n" {
		t.Fatalf("resolv.conf = %q", b)
	}
	if err := os.Symlink("..", filepath.Join(root, "proc")); err != nil {
		t.Fatal(err)
	}
	if err := MkdirInRoot(root, "proc"); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("MkdirInRoot through symlink: %v, want ErrUnsafePath", err)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(mkTar(f, entry{name: "a/b", typ: tar.TypeReg, body: "x"}))
	f.Add(mkTar(f, entry{name: "l", typ: tar.TypeSymlink, link: ".."}, entry{name: "l/x", typ: tar.TypeReg, body: "x"}))
	f.Add(mkTar(f, entry{name: "h", typ: tar.TypeLink, link: "../outside"}))
	f.Add(mkTar(f, entry{name: "d/", typ: tar.TypeDir}, entry{name: "d", typ: tar.TypeSymlink, link: "/"}, entry{name: "d/z", typ: tar.TypeReg}))
	f.Add(mkTar(f, entry{name: "/x/../../y", typ: tar.TypeReg, body: "x"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent, root := sandbox(t)
		_, _ = Extract(bytes.NewReader(data), root, ExtractOptions{MaxBytes: int64(len(data))})
		assertContained(t, parent)
	})
}

func TestExtractContentBudget(t *testing.T) {
	data := mkTar(t, entry{name: "a", typ: tar.TypeReg, body: "12345"}, entry{name: "b", typ: tar.TypeReg, body: "67890"})
	if _, err := Extract(bytes.NewReader(data), t.TempDir(), ExtractOptions{MaxBytes: 9}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over budget: %v, want ErrTooLarge", err)
	}
	if st, err := Extract(bytes.NewReader(data), t.TempDir(), ExtractOptions{MaxBytes: 10}); err != nil || st.Bytes != 10 {
		t.Fatalf("at budget: %+v, %v", st, err)
	}
}

func TestExtractOwnersAndDevicesAsRoot(t *testing.T) {
	testenv.NeedRoot(t, "chown and mknod")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "home/app/", Typeflag: tar.TypeDir, Mode: 0o700, Uid: 1000, Gid: 1001},
		{Name: "home/app/suid", Typeflag: tar.TypeReg, Mode: 0o4750, Uid: 1000, Gid: 1001},
		{Name: "home/app/link", Typeflag: tar.TypeSymlink, Linkname: "suid", Uid: 1000, Gid: 1001},
		{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	root := t.TempDir()
	st, err := Extract(&buf, root, ExtractOptions{Chown: true, Devices: true})
	if err != nil || st.Devices != 1 {
		t.Fatalf("Extract = %+v, %v", st, err)
	}
	for name, want := range map[string][2]uint32{"home/app": {1000, 1001}, "home/app/suid": {1000, 1001}, "home/app/link": {1000, 1001}} {
		fi, err := os.Lstat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		s := fi.Sys().(*syscall.Stat_t)
		if s.Uid != want[0] || s.Gid != want[1] {
			t.Errorf("%s owned by %d:%d, want %d:%d", name, s.Uid, s.Gid, want[0], want[1])
		}
	}
	// chown clears setuid: the mode must be applied after it.
	if fi, _ := os.Stat(filepath.Join(root, "home/app/suid")); fi.Mode()&fs.ModeSetuid == 0 || fi.Mode().Perm() != 0o750 {
		t.Errorf("suid mode = %v", fi.Mode())
	}
	fi, err := os.Lstat(filepath.Join(root, "dev/null"))
	if err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		t.Fatalf("dev/null = %v, %v", fi, err)
	}
	if s := fi.Sys().(*syscall.Stat_t); s.Rdev != uint64(unix.Mkdev(1, 3)) {
		t.Errorf("dev/null rdev = %d", s.Rdev)
	}
}
