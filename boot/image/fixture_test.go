package image

// Test images and the fixture: layers and images built in memory, a
// registry and a store on disk.

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
)

type file struct {
	name, body string
}

func layerOf(t testing.TB, files ...file) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if strings.HasSuffix(f.name, "/") {
			tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeDir, Mode: 0o755})
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.Close()
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testImage has two layers: the second replaces hello.txt and whites out junk.
func testImage(t testing.TB, arch, release string) v1.Image {
	t.Helper()
	base := layerOf(t,
		file{"etc/", ""},
		file{"etc/os-release", "ID=" + release + "\n"},
		file{"hello.txt", "old\n"},
		file{"junk", "remove me"},
	)
	top := layerOf(t, file{"hello.txt", "hello from " + arch + "\n"}, file{".wh.junk", ""})
	img, err := mutate.AppendLayers(empty.Image, base, top)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func multiIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	return mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: testImage(t, "amd64", "multi"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: testImage(t, "arm64", "multi"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
}

func tarFiles(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[strings.TrimPrefix(h.Name, "/")] = string(b)
	}
}

type fixture struct {
	dir      string
	registry string // host:port
	cache    *cache.Cache
	res      *Resolver
}

func newFixture(t *testing.T, max int64) *fixture {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	fx := &fixture{dir: t.TempDir(), registry: strings.TrimPrefix(srv.URL, "http://")}
	c, err := cache.Open(filepath.Join(fx.dir, "cache"), max, clock.Real{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fx.cache = c
	allow, err := netallow.Parse("--registry-allow", []string{fx.registry})
	if err != nil {
		t.Fatal(err)
	}
	fx.res = NewResolver(c, Options{Registries: allow, Staging: t.TempDir()})

	amd := testImage(t, "amd64", "single")
	if err := tarball.WriteToFile(filepath.Join(fx.dir, "app.tar"), name.MustParseReference("app:1"), amd); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(filepath.Join(fx.dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(testImage(t, "arm64", "layout"), layout.WithAnnotations(map[string]string{refNameAnnotation: "1"})); err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(multiIndex(t), layout.WithAnnotations(map[string]string{refNameAnnotation: "example.org/multi:2"})); err != nil {
		t.Fatal(err)
	}
	lone, err := layout.Write(filepath.Join(fx.dir, "lone"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lone.AppendImage(amd); err != nil {
		t.Fatal(err)
	}
	tarDir(t, filepath.Join(fx.dir, "oci"), filepath.Join(fx.dir, "oci-archive.tar"), "../evil")
	tarDir(t, filepath.Join(fx.dir, "lone"), filepath.Join(fx.dir, "lone-archive.tar"), "")
	if err := remote.Write(mustRef(t, fx.registry+"/app:1"), amd); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(mustRef(t, fx.registry+"/multi:1"), multiIndex(t)); err != nil {
		t.Fatal(err)
	}
	return fx
}
