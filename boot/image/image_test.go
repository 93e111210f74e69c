package image

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bmc-sched/bmc/boot/cache"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/internal/userfs"
)

func TestRootfsSources(t *testing.T) {
	fx := newFixture(t, 0)
	tests := []struct {
		name, ref, arch string
		wantOS, wantHi  string
		wantPlat        string
	}{
		{"docker tarball", fx.dir + "/app.tar", "x86_64", "ID=single\n", "hello from amd64\n", "linux/amd64"},
		{"layout by tag", "oci:" + fx.dir + "/oci:1", "aarch64", "ID=layout\n", "hello from arm64\n", "linux/arm64"},
		{"layout index by full ref name", "oci:" + fx.dir + "/oci:2", "aarch64", "ID=multi\n", "hello from arm64\n", "linux/arm64"},
		{"layout only manifest", "oci:" + fx.dir + "/lone", "x86_64", "ID=single\n", "hello from amd64\n", "linux/amd64"},
		{"OCI archive, one manifest", fx.dir + "/lone-archive.tar", "x86_64", "ID=single\n", "hello from amd64\n", "linux/amd64"},
		{"registry image", fx.registry + "/app:1", "x86_64", "ID=single\n", "hello from amd64\n", "linux/amd64"},
		{"registry index amd64", fx.registry + "/multi:1", "x86_64", "ID=multi\n", "hello from amd64\n", "linux/amd64"},
		{"registry index arm64", fx.registry + "/multi:1", "aarch64", "ID=multi\n", "hello from arm64\n", "linux/arm64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rf, err := fx.res.Rootfs(context.Background(), Request{Ref: tt.ref, Arch: tt.arch})
			if err != nil {
				t.Fatal(err)
			}
			defer rf.Release()
			files := tarFiles(t, rf.Path)
			if files["etc/os-release"] != tt.wantOS || files["hello.txt"] != tt.wantHi {
				t.Errorf("files = %q", files)
			}
			if _, ok := files["junk"]; ok {
				t.Errorf("whiteout not applied: %q", files)
			}
			if rf.Platform != tt.wantPlat || !strings.HasPrefix(rf.Digest, "sha256:") || rf.Size <= 0 {
				t.Errorf("rootfs = %+v", rf)
			}
		})
	}
}

func TestRootfsCachedOncePerManifest(t *testing.T) {
	fx := newFixture(t, 0)
	ctx := context.Background()
	first, err := fx.res.Rootfs(ctx, Request{Ref: fx.registry + "/app:1", Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	first.Release()
	// The same manifest asked for at once: one flatten.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rf, err := fx.res.Rootfs(ctx, Request{Ref: fx.registry + "/app:1", Arch: "x86_64"})
			if err != nil {
				t.Error(err)
				return
			}
			if rf.Digest != first.Digest || rf.Manifest != first.Manifest {
				t.Errorf("rootfs %s/%s != %s/%s", rf.Digest, rf.Manifest, first.Digest, first.Manifest)
			}
			rf.Release()
		}()
	}
	wg.Wait()
	if n := fx.cache.Fills(); n != 1 {
		t.Fatalf("flattened %d times, want 1", n)
	}
	// The same config from a docker tarball is another manifest (bmc's,
	// with unpacked layers): its own entry, made once.
	for range 2 {
		rf, err := fx.res.Rootfs(ctx, Request{Ref: fx.dir + "/app.tar", Arch: "x86_64"})
		if err != nil {
			t.Fatal(err)
		}
		if rf.Config != first.Config || rf.Manifest == first.Manifest {
			t.Errorf("tarball: config %s manifest %s; registry: %s %s", rf.Config, rf.Manifest, first.Config, first.Manifest)
		}
		rf.Release()
	}
	if n := fx.cache.Fills(); n != 2 {
		t.Fatalf("flattened %d times, want 2", n)
	}
	if _, err := fx.res.Rootfs(ctx, Request{Ref: fx.registry + "/multi:1", Arch: "x86_64"}); err != nil {
		t.Fatal(err)
	}
	if n := fx.cache.Fills(); n != 3 {
		t.Fatalf("flattened %d times, want 3", n)
	}
}

func TestRootfsErrors(t *testing.T) {
	fx := newFixture(t, 0)
	tests := []struct {
		name, ref, arch string
		want            error
	}{
		{"unknown node arch", fx.registry + "/multi:1", "riscv", ErrUnknownArch},
		{"image wrong arch", fx.dir + "/app.tar", "aarch64", ErrNoPlatform},
		{"layout wrong arch", "oci:" + fx.dir + "/oci:1", "x86_64", ErrNoPlatform},
		{"missing registry tag", fx.registry + "/app:nope", "x86_64", ErrNotFound},
		{"missing registry repo", fx.registry + "/nothing:1", "x86_64", ErrNotFound},
		{"missing tarball", fx.dir + "/none.tar", "x86_64", ErrNotFound},
		{"missing layout", "oci:" + fx.dir + "/none", "x86_64", ErrNotFound},
		{"missing layout tag", "oci:" + fx.dir + "/oci:9", "x86_64", ErrNotFound},
		{"ambiguous layout", "oci:" + fx.dir + "/oci", "x86_64", ErrBadRef},
		{"ambiguous OCI archive", fx.dir + "/oci-archive.tar", "x86_64", ErrBadRef},
		{"relative path", "./app.tar", "x86_64", ErrBadRef},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fx.res.Rootfs(context.Background(), Request{Ref: tt.ref, Arch: tt.arch})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			// Errors name what the user wrote, never a temporary directory.
			if tt.want != ErrUnknownArch && !strings.Contains(err.Error(), strings.TrimPrefix(tt.ref, "./")) || strings.Contains(err.Error(), "bmc-oci-archive") {
				t.Fatalf("err = %v does not name %s", err, tt.ref)
			}
		})
	}
	// An index without the node's platform.
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: testImage(t, "arm64", "x"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	if err := remote.WriteIndex(mustRef(t, fx.registry+"/armonly:1"), idx); err != nil {
		t.Fatal(err)
	}
	_, err := fx.res.Rootfs(context.Background(), Request{Ref: fx.registry + "/armonly:1", Arch: "x86_64"})
	if !errors.Is(err, ErrNoPlatform) || !strings.Contains(err.Error(), "linux/arm64") {
		t.Fatalf("err = %v, want ErrNoPlatform naming linux/arm64", err)
	}
}

func TestPlatforms(t *testing.T) {
	fx := newFixture(t, 0)
	tests := []struct {
		ref  string
		want []string
	}{
		{fx.registry + "/multi:1", []string{"aarch64", "x86_64"}},
		{fx.registry + "/app:1", []string{"x86_64"}},
		{fx.dir + "/app.tar", []string{"x86_64"}},
		{"oci:" + fx.dir + "/oci:1", []string{"aarch64"}},
		{"oci:" + fx.dir + "/oci:2", []string{"aarch64", "x86_64"}},
	}
	for _, tt := range tests {
		c, err := fx.res.Check(context.Background(), tt.ref, userfs.Identity{}, []string{"x86_64", "aarch64"})
		if err != nil {
			t.Fatalf("%s: %v", tt.ref, err)
		}
		if got := c.Archs; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: platforms %v, want %v", tt.ref, got, tt.want)
		}
	}
}

func TestRootfsLRUEviction(t *testing.T) {
	fx := newFixture(t, 1) // every idle entry is over budget
	ctx := context.Background()
	a, err := fx.res.Rootfs(ctx, Request{Ref: fx.dir + "/app.tar", Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := fx.res.Rootfs(ctx, Request{Ref: "oci:" + fx.dir + "/oci:1", Arch: "aarch64"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.Path); err != nil {
		t.Fatalf("in-use rootfs evicted: %v", err)
	}
	a.Release()
	if _, err := os.Stat(a.Path); !os.IsNotExist(err) {
		t.Fatalf("released rootfs kept over budget: %v", err)
	}
	if _, err := os.Stat(b.Path); err != nil {
		t.Fatalf("held rootfs evicted: %v", err)
	}
	b.Release()
	// Asking again flattens again.
	again, err := fx.res.Rootfs(ctx, Request{Ref: fx.dir + "/app.tar", Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Release()
	if n := fx.cache.Fills(); n != 3 {
		t.Fatalf("fills = %d, want 3", n)
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string
		kind Kind
		path string
		tag  string
		err  bool
	}{
		{in: "alpine:3", kind: Registry},
		{in: "127.0.0.1:5000/app:1", kind: Registry},
		{in: "/srv/img/app.tar", kind: Tarball, path: "/srv/img/app.tar"},
		{in: "/srv/img/../img/app.tar", kind: Tarball, path: "/srv/img/app.tar"},
		{in: "oci:/srv/lay", kind: Layout, path: "/srv/lay"},
		{in: "oci:/srv/lay:v2", kind: Layout, path: "/srv/lay", tag: "v2"},
		{in: "oci:/srv/a:b/lay", kind: Layout, path: "/srv/a:b/lay"},
		{in: "oci:/srv/lay:", err: true},
		{in: "oci:rel/lay", err: true},
		{in: "", err: true},
		{in: "a b", err: true},
		{in: "UPPER/x", err: true},
		{in: "./x.tar", err: true},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseRef(%q) err = %v", tt.in, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrBadRef) {
				t.Errorf("ParseRef(%q) err %v is not ErrBadRef", tt.in, err)
			}
			continue
		}
		if got.Kind != tt.kind || got.Path != tt.path || got.Tag != tt.tag {
			t.Errorf("ParseRef(%q) = %+v", tt.in, got)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"alpine:3", "oci:/a/b:c", "/x.tar", "oci:/a:b/c", "r.io/a@sha256:" + strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			if !errors.Is(err, ErrBadRef) {
				t.Fatalf("error not ErrBadRef: %v", err)
			}
			return
		}
		switch r.Kind {
		case Tarball, Layout:
			if !filepath.IsAbs(r.Path) || filepath.Clean(r.Path) != r.Path {
				t.Fatalf("path %q not absolute and clean", r.Path)
			}
		}
		// The printed form parses back to the same thing.
		r2, err := ParseRef(r.String())
		if err != nil || r2.String() != r.String() {
			t.Fatalf("round trip %q -> %q -> %v %v", s, r.String(), r2, err)
		}
	})
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tarDir packs a layout directory the way podman's oci-archive does, plus
// an optional hostile entry that must never be unpacked.
func tarDir(t *testing.T, dir, out, hostile string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if hostile != "" {
		tw.WriteHeader(&tar.Header{Name: hostile, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
		tw.Write([]byte("x"))
	}
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOCIArchiveUnpacksOnlyLayout(t *testing.T) {
	fx := newFixture(t, 0)
	tmp := t.TempDir()
	f, err := os.Open(fx.dir + "/oci-archive.tar")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir, err := unpackLayout(f, tmp, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "evil")); !os.IsNotExist(err) {
		t.Fatal("hostile entry unpacked")
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		t.Fatal(err)
	}
	// A resolution leaves no unpacked archive behind.
	fx.res.tmp = tmp
	os.RemoveAll(dir)
	if _, err := fx.res.Rootfs(context.Background(), Request{Ref: fx.dir + "/lone-archive.tar", Arch: "x86_64"}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Fatalf("left %v in the temp dir", ents)
	}
}

// TestFlattenTime measures flattening a 3 x 8 MiB image from a docker tarball.
func TestFlattenTime(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	img, err := random.Image(8<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "big.tar")
	if err := tarball.WriteToFile(path, name.MustParseReference("big:1"), img); err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(filepath.Join(dir, "cache"), 0, clock.Real{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := NewResolver(c, Options{})
	start := time.Now()
	rf, err := res.Rootfs(context.Background(), Request{Ref: path, Arch: "x86_64"}) // random images name no architecture
	if err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	start = time.Now()
	again, err := res.Rootfs(context.Background(), Request{Ref: path, Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != rf.Digest || c.Fills() != 1 {
		t.Fatalf("second resolution re-flattened (fills %d)", c.Fills())
	}
	t.Logf("flatten 3 x 8 MiB layers (%d-byte tar): %v; cached: %v", rf.Size, first, time.Since(start))
}
