package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bmc-sched/bmc/boot/cache"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/internal/netallow"
	"github.com/bmc-sched/bmc/internal/userfs"
)

// A user copies the config of a world-readable image and packs a trojan
// /bin/app with it. Root's image is already cached: the trojan is refused,
// and root's next boot still gets the real files.
func TestPoisonedConfigIsRefused(t *testing.T) {
	fx := newFixture(t, 0)
	ctx := context.Background()
	real := testImage(t, "amd64", "real")
	realPath := filepath.Join(fx.dir, "real.tar")
	if err := tarball.WriteToFile(realPath, name.MustParseReference("real:1"), real); err != nil {
		t.Fatal(err)
	}
	good, err := fx.res.Rootfs(ctx, Request{Ref: realPath, Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	good.Release()

	trojan := tarOf(t, tar.Header{Name: "bin/app", Typeflag: tar.TypeReg, Mode: 0o755, Size: 6})
	evil := filepath.Join(fx.dir, "evil.tar")
	dockerSave(t, evil, rawConfig(t, real), trojan, trojan)
	for _, check := range []func() error{
		func() error { _, err := fx.res.Rootfs(ctx, Request{Ref: evil, Arch: "x86_64"}); return err },
		func() error { _, err := fx.res.Check(ctx, evil, userfs.Identity{}, []string{"x86_64"}); return err },
	} {
		err := check()
		if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "layer 1: refused: its content is sha256:") ||
			!strings.Contains(err.Error(), "but the config's diff_id is") {
			t.Fatalf("poisoned tarball: %v", err)
		}
		t.Logf("user sees: %v", err)
	}

	// The same attack as an OCI layout whose manifest names the trojan
	// layers correctly: the config's diff_ids still give it away.
	lp, err := layout.Write(filepath.Join(fx.dir, "evil-oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := mutate.AppendLayers(empty.Image, layerOf(t, file{"bin/app", "trojan"}), layerOf(t, file{"etc/passwd", "evil::0:0::/:/bin/sh\n"}))
	if err != nil {
		t.Fatal(err)
	}
	bad = &swappedConfig{Image: bad, cfg: rawConfig(t, real)}
	if err := lp.AppendImage(bad); err != nil {
		t.Fatal(err)
	}
	_, err = fx.res.Rootfs(ctx, Request{Ref: "oci:" + fx.dir + "/evil-oci", Arch: "x86_64"})
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "but the config's diff_id is") {
		t.Fatalf("poisoned layout: %v", err)
	}
	t.Logf("user sees: %v", err)

	again, err := fx.res.Rootfs(ctx, Request{Ref: realPath, Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Release()
	if files := tarFiles(t, again.Path); files["bin/app"] != "" || files["hello.txt"] != "hello from amd64\n" {
		t.Fatalf("root's image changed: %q", files)
	}
	if n := fx.cache.Fills(); n != 1 {
		t.Fatalf("fills = %d: a refused image reached the cache", n)
	}
}

// swappedConfig is an image that claims another image's config.
type swappedConfig struct {
	v1.Image
	cfg []byte
}

func (s *swappedConfig) RawConfigFile() ([]byte, error) { return s.cfg, nil }
func (s *swappedConfig) ConfigName() (v1.Hash, error)   { return digestOf(s.cfg), nil }
func (s *swappedConfig) ConfigFile() (*v1.ConfigFile, error) {
	return v1.ParseConfigFile(bytes.NewReader(s.cfg))
}
func (s *swappedConfig) Manifest() (*v1.Manifest, error) {
	m, err := s.Image.Manifest()
	if err != nil {
		return nil, err
	}
	m = m.DeepCopy()
	m.Config.Digest, m.Config.Size = digestOf(s.cfg), int64(len(s.cfg))
	return m, nil
}
func (s *swappedConfig) RawManifest() ([]byte, error) {
	m, err := s.Manifest()
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}
func (s *swappedConfig) Digest() (v1.Hash, error) {
	b, err := s.RawManifest()
	return digestOf(b), err
}

// A user copies the manifest and config of root's private layout (they are
// world-readable, the layers are not) and names them: the layers cannot be
// read as the user, cached or not.
func TestPrivateLayersStayPrivate(t *testing.T) {
	needRoot(t)
	fx := newFixture(t, 0)
	ctx := context.Background()
	private := filepath.Join(fx.dir, "private")
	lp, err := layout.Write(private, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(testImage(t, "amd64", "secret")); err != nil {
		t.Fatal(err)
	}
	rootImg, err := fx.res.Rootfs(ctx, Request{Ref: "oci:" + private, Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	rootImg.Release()

	// The user's copy: index, manifest and config, symlinks to the layers.
	mine := filepath.Join(sharedDir(t), "mine")
	os.MkdirAll(filepath.Join(mine, "blobs", "sha256"), 0o755)
	idx, _ := lp.ImageIndex()
	im, _ := idx.IndexManifest()
	pimg, _ := idx.Image(im.Manifests[0].Digest)
	cfgName, _ := pimg.ConfigName()
	docs := map[string]bool{im.Manifests[0].Digest.Hex: true, cfgName.Hex: true}
	ents, _ := os.ReadDir(filepath.Join(private, "blobs", "sha256"))
	for _, e := range ents {
		src := filepath.Join(private, "blobs", "sha256", e.Name())
		b, _ := os.ReadFile(src)
		dst := filepath.Join(mine, "blobs", "sha256", e.Name())
		if docs[e.Name()] {
			os.WriteFile(dst, b, 0o644)
			continue
		}
		os.Chmod(src, 0o600)
		os.Symlink(src, dst)
	}
	for _, f := range []string{"index.json", "oci-layout"} {
		b, _ := os.ReadFile(filepath.Join(private, f))
		os.WriteFile(filepath.Join(mine, f), b, 0o644)
	}
	_, err = fx.res.Rootfs(ctx, Request{Ref: "oci:" + mine, Arch: "x86_64", Owner: nobody})
	if err == nil || !strings.Contains(err.Error(), "path escapes from parent") {
		t.Fatalf("symlinked layers: %v", err)
	}
	t.Logf("user sees: %v", err)
	_, err = fx.res.Check(ctx, "oci:"+mine, nobody, []string{"x86_64"})
	if err == nil {
		t.Fatal("Check accepted symlinked layers")
	}

	// A layout whose blobs directory is a symlink into root's: os.Root
	// refuses to leave the directory the user named.
	mine2 := filepath.Join(sharedDir(t), "mine2")
	os.MkdirAll(mine2, 0o755)
	for _, f := range []string{"index.json", "oci-layout"} {
		b, _ := os.ReadFile(filepath.Join(private, f))
		os.WriteFile(filepath.Join(mine2, f), b, 0o644)
	}
	os.Symlink(filepath.Join(private, "blobs"), filepath.Join(mine2, "blobs"))
	_, err = fx.res.Rootfs(ctx, Request{Ref: "oci:" + mine2, Arch: "x86_64", Owner: nobody})
	if err == nil {
		t.Fatal("blobs symlinked out of the layout were read")
	}
	t.Logf("user sees: %v", err)
}

// A tarball that is a symlink to a root-only file, and a tarball swapped
// for another after submit.
func TestTarballReadAsOwner(t *testing.T) {
	needRoot(t)
	fx := newFixture(t, 0)
	ctx := context.Background()
	secret := filepath.Join(fx.dir, "secret.tar")
	if err := tarball.WriteToFile(secret, name.MustParseReference("sec:1"), testImage(t, "amd64", "secret")); err != nil {
		t.Fatal(err)
	}
	os.Chmod(secret, 0o600)
	dir := sharedDir(t)
	link := filepath.Join(dir, "app.tar")
	os.Symlink(secret, link)
	_, err := fx.res.Check(ctx, link, nobody, []string{"x86_64"})
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("symlink to a root-only tarball: %v", err)
	}
	t.Logf("user sees: %v", err)

	// Checked at submit as a good image, swapped before the boot.
	os.Remove(link)
	if err := tarball.WriteToFile(link, name.MustParseReference("app:1"), testImage(t, "amd64", "mine")); err != nil {
		t.Fatal(err)
	}
	os.Chmod(link, 0o644)
	c, err := fx.res.Check(ctx, link, nobody, []string{"x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(link, name.MustParseReference("app:1"), testImage(t, "amd64", "other")); err != nil {
		t.Fatal(err)
	}
	_, err = fx.res.Rootfs(ctx, Request{Ref: link, Arch: "x86_64", Owner: nobody, Digest: c.Digest})
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("swapped tarball: %v", err)
	}
	t.Logf("user sees: %v", err)
	os.Remove(link)
	os.Symlink(secret, link)
	_, err = fx.res.Rootfs(ctx, Request{Ref: link, Arch: "x86_64", Owner: nobody, Digest: c.Digest})
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("tarball swapped for a symlink: %v", err)
	}
	// Unchanged, it boots.
	os.Remove(link)
	if err := tarball.WriteToFile(link, name.MustParseReference("app:1"), testImage(t, "amd64", "mine")); err != nil {
		t.Fatal(err)
	}
	rf, err := fx.res.Rootfs(ctx, Request{Ref: link, Arch: "x86_64", Owner: nobody, Digest: c.Digest})
	if err != nil {
		t.Fatal(err)
	}
	rf.Release()
}

func TestImageLimits(t *testing.T) {
	fx := newFixture(t, 0)
	ctx := context.Background()
	big := tarOf(t, tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: 64 << 10})
	many := tarOf(t, tar.Header{Name: "a", Typeflag: tar.TypeReg}, tar.Header{Name: "b", Typeflag: tar.TypeReg}, tar.Header{Name: "c", Typeflag: tar.TypeReg})
	dev := tarOf(t, tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8, Mode: 0o600})
	fifo := tarOf(t, tar.Header{Name: "run/pipe", Typeflag: tar.TypeFifo, Mode: 0o600})
	tests := []struct {
		name  string
		layer []byte
		lim   Limits
		want  error
		msg   string
	}{
		{"over bytes", big, Limits{MaxBytes: 32 << 10}, ErrTooBig, "over 32768 bytes unpacked (bmcctld --image-max-bytes 32768)"},
		{"over files", many, Limits{MaxFiles: 2}, ErrTooBig, "over 2 files (bmcctld --image-max-files)"},
		{"block device", dev, Limits{}, ErrUntrusted, "dev/sda is a block device; images may not hold device nodes or FIFOs"},
		{"fifo", fifo, Limits{}, ErrUntrusted, "run/pipe is a FIFO"},
		{"fits", big, Limits{MaxBytes: 1 << 20, MaxFiles: 10}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := tarball.LayerFromReader(bytes.NewReader(tt.layer))
			if err != nil {
				t.Fatal(err)
			}
			img, err := mutate.AppendLayers(empty.Image, l)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "img.tar")
			if err := tarball.WriteToFile(path, name.MustParseReference("img:1"), img); err != nil {
				t.Fatal(err)
			}
			res := NewResolver(fx.cache, Options{Limits: tt.lim, Staging: t.TempDir()})
			_, err = res.Check(ctx, path, userfs.Identity{}, []string{"x86_64"})
			if !errors.Is(err, tt.want) || (tt.want != nil && !strings.Contains(err.Error(), tt.msg)) {
				t.Fatalf("Check: %v, want %v (%s)", err, tt.want, tt.msg)
			}
			rf, err := res.Rootfs(ctx, Request{Ref: path, Arch: "x86_64"})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Rootfs: %v, want %v", err, tt.want)
			}
			if err == nil {
				rf.Release()
			} else {
				t.Logf("user sees: %v", err)
			}
		})
	}
}

// A gzip bomb: a small layer that unpacks past the limit stops at the limit.
func TestLayerBombStops(t *testing.T) {
	c, err := cache.Open(t.TempDir(), 0, clock.Real{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromReader(bytes.NewReader(tarOf(t, tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Size: 8 << 20})))
	if err != nil {
		t.Fatal(err)
	}
	img, _ := mutate.AppendLayers(empty.Image, l)
	dir := t.TempDir()
	lp, _ := layout.Write(dir, empty.Index)
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	res := NewResolver(c, Options{Limits: Limits{MaxBytes: 1 << 20}, Staging: t.TempDir()})
	_, err = res.Rootfs(context.Background(), Request{Ref: "oci:" + dir, Arch: "x86_64"})
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("bomb: %v", err)
	}
}

func TestRegistryAllowList(t *testing.T) {
	ctx := context.Background()
	// A blob store on another port that the registry redirects to.
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a host off the list was contacted: %s", r.URL)
	}))
	defer elsewhere.Close()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") && r.Header.Get("X-Test-Push") == "" && !strings.Contains(r.URL.Path, "/uploads/") {
			if strings.HasPrefix(r.URL.Path, "/v2/redirect/") {
				http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
				return
			}
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img := testImage(t, "amd64", "r")
	for _, repo := range []string{"/app:1", "/redirect:1"} {
		if err := remote.Write(mustRef(t, host+repo), img); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := cache.Open(t.TempDir(), 0, clock.Real{}, nil)
	none := NewResolver(c, Options{Staging: t.TempDir()})
	_, err := none.Check(ctx, host+"/app:1", userfs.Identity{}, nil)
	if !errors.Is(err, ErrRegistryNotAllowed) || !strings.Contains(err.Error(), "bmcctld pulls from no registry") {
		t.Fatalf("empty list: %v", err)
	}
	t.Logf("user sees: %v", err)
	other, _ := netallow.Parse("--registry-allow", []string{"registry.example.org"})
	_, err = NewResolver(c, Options{Registries: other}).Check(ctx, host+"/app:1", userfs.Identity{}, nil)
	if !errors.Is(err, ErrRegistryNotAllowed) || !strings.Contains(err.Error(), "is not in --registry-allow (registry.example.org)") {
		t.Fatalf("other list: %v", err)
	}
	t.Logf("user sees: %v", err)

	allow, _ := netallow.Parse("--registry-allow", []string{host})
	res := NewResolver(c, Options{Registries: allow, Staging: t.TempDir()})
	rf, err := res.Rootfs(ctx, Request{Ref: host + "/app:1", Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	rf.Release()
	// Same manifest, but this repository's blobs redirect off the list:
	// the cache entry exists, so only a pull by another digest would go
	// there. Make it another manifest.
	img2 := testImage(t, "amd64", "redirected")
	if err := remote.Write(mustRef(t, host+"/redirect:2"), img2); err != nil {
		t.Fatal(err)
	}
	_, err = res.Rootfs(ctx, Request{Ref: host + "/redirect:2", Arch: "x86_64"})
	if !errors.Is(err, netallow.ErrNotAllowed) || !strings.Contains(err.Error(), "is not in --registry-allow") {
		t.Fatalf("redirect off the list: %v", err)
	}
	t.Logf("user sees: %v", err)
}

// FuzzCheckTarball feeds arbitrary bytes as a user's tarball: never a
// panic, always a one-line error naming the image.
func FuzzCheckTarball(f *testing.F) {
	real := testImage(f, "amd64", "fuzz")
	var seed bytes.Buffer
	if err := tarball.Write(name.MustParseReference("fuzz:1"), real, &seed); err != nil {
		f.Fatal(err)
	}
	f.Add(seed.Bytes())
	f.Add(tarOf(f, tar.Header{Name: "oci-layout", Typeflag: tar.TypeReg, Size: 3}))
	f.Add([]byte("not a tar"))
	c, err := cache.Open(f.TempDir(), 0, clock.Real{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	res := NewResolver(c, Options{Limits: Limits{MaxBytes: 1 << 20, MaxFiles: 100}, Staging: f.TempDir()})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "img.tar")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := res.Check(context.Background(), path, userfs.Identity{}, []string{"x86_64"})
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			os.WriteFile("/tmp/images-hang.bin", data, 0o644)
			t.Fatalf("hang:\n%s", buf[:n])
		}
		if err != nil && (!strings.HasPrefix(err.Error(), "image "+path) || strings.Contains(err.Error(), "\n")) {
			t.Fatalf("error %q", err)
		}
	})
}
