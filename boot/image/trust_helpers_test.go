package image

// Helpers of the trust tests: a shared directory, docker-save archives,
// raw tar layers and configs.

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bmc-sched/bmc/internal/testenv"
	"github.com/bmc-sched/bmc/internal/userfs"
)

// nobody is the hostile user of these tests.
var nobody = userfs.Identity{UID: 65534, GID: 65534}

// sharedDir is a directory uid 65534 may enter and write.
func sharedDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	os.Chmod(filepath.Dir(d), 0o755)
	os.Chmod(d, 0o777)
	return d
}

func needRoot(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t, "read as uid 65534")
}

// dockerSave writes a docker-save tarball by hand: config bytes and layer
// tars as given, so a test can pair a config with layers it never named.
func dockerSave(t *testing.T, path string, config []byte, layers ...[]byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	add("config.json", config)
	var names []string
	for i, l := range layers {
		n := "layer" + string(rune('0'+i)) + ".tar"
		add(n, l)
		names = append(names, n)
	}
	m, _ := json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": []string{"x:1"}, "Layers": names}})
	add("manifest.json", m)
	tw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tarOf(t testing.TB, hdrs ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		body := strings.Repeat("x", int(h.Size))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

func rawConfig(t *testing.T, img v1.Image) []byte {
	t.Helper()
	b, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
