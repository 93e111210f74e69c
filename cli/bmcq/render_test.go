package bmcq

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestMain prints times in UTC, so golden files do not depend on where the
// tests run. It is set once, before any test starts a server goroutine
// that reads the clock.
func TestMain(m *testing.M) {
	time.Local = time.UTC
	os.Exit(m.Run())
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func load[T any](t *testing.T, name string) T {
	t.Helper()
	var v T
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRenderGolden(t *testing.T) {
	jobs := load[api.JobList](t, "jobs.json")
	var b bytes.Buffer
	if err := RenderQueue(&b, queueRows(jobs.Jobs)); err != nil {
		t.Fatal(err)
	}
	golden(t, "queue.txt", b.Bytes())

	nodes := load[api.NodeList](t, "nodes.json")
	b.Reset()
	if err := RenderNodes(&b, nodes.Nodes); err != nil {
		t.Fatal(err)
	}
	golden(t, "nodes.txt", b.Bytes())

	detail := load[api.JobDetail](t, "show.json")
	b.Reset()
	if err := RenderJob(&b, detail); err != nil {
		t.Fatal(err)
	}
	golden(t, "show.txt", b.Bytes())

	b.Reset()
	RenderKernels(&b, []api.KernelInfo{
		{Name: "default", Kernel: "/srv/vmlinuz", Initrd: "/srv/initrd.img", Cmdline: "console=ttyS0", Default: true},
		{Name: "debian-12-arm", Arch: "aarch64", Kernel: "/srv/arm/vmlinux", Description: "Debian 12 arm64"},
	})
	golden(t, "kernels.txt", b.Bytes())
}

func TestFmtDuration(t *testing.T) {
	for sec, want := range map[float64]string{0: "0:00", 59.9: "0:59", 61: "1:01", 3600: "1:00:00", 90061: "1-01:01:01", -5: "0:00"} {
		if got := fmtDuration(sec); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", sec, got, want)
		}
	}
}
