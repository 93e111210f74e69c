package boot

// The boot server's test environment: a server on a fake clock with a
// kernel, initrd and OCI image on disk, and a recorder of the agent's calls.

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bmc-sched/bmc/agent/proto"
	"github.com/bmc-sched/bmc/internal/clock"
)

const nodeURL = "http://10.0.2.2:8150"

type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(b *Boot, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("job %d boot %d %s: %s", b.JobID, b.Boot, b.Node, what))
}
func (r *recorder) Progress(b *Boot, p proto.Progress) { r.add(b, "progress "+p.Phase) }
func (r *recorder) Ready(b *Boot, p proto.Ready)       { r.add(b, "ready "+p.HostKey) }
func (r *recorder) Heartbeat(b *Boot, h proto.Heartbeat) {
	r.add(b, fmt.Sprintf("heartbeat %v", h.Running))
}
func (r *recorder) Conflict(b *Boot, c Conflict) {
	r.add(b, fmt.Sprintf("conflict %s from %s on %s", c.Kind, c.Remote, c.Route))
}
func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

type env struct {
	t       *testing.T
	dir     string
	kdir    string
	clk     *clock.Fake
	rec     *recorder
	logs    *syncBuffer
	srv     *Server
	http    *httptest.Server
	image   string // docker tarball path
	initrd  []byte // the catalog kernel's initrd
	agent   []byte
	kernel  []byte
	armOnly string
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeImage(t *testing.T, path, arch string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := "ID=test\n"
	tw.WriteHeader(&tar.Header{Name: "etc/os-release", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(path, name.MustParseReference("test:1"), img); err != nil {
		t.Fatal(err)
	}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clk: clock.NewFake(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)), rec: &recorder{}, logs: &syncBuffer{}}
	e.kdir = filepath.Join(e.dir, "kernels")
	e.kernel = []byte("MZ fake kernel 6.1")
	e.initrd = []byte("070701 pretend this is a gzip initrd!") // 37 bytes: not 4-aligned
	e.agent = bytes.Repeat([]byte("\x7fELF agent "), 100)
	write(t, filepath.Join(e.kdir, "vmlinuz-6.1"), e.kernel)
	write(t, filepath.Join(e.kdir, "initrd-6.1.img"), e.initrd)
	write(t, filepath.Join(e.dir, "outside", "vmlinuz"), []byte("secret"))
	write(t, filepath.Join(e.dir, "bmcinit-amd64"), e.agent)
	if err := os.Symlink(filepath.Join(e.dir, "outside", "vmlinuz"), filepath.Join(e.kdir, "escape")); err != nil {
		t.Fatal(err)
	}
	e.image = filepath.Join(e.dir, "app.tar")
	writeImage(t, e.image, "amd64")
	e.armOnly = filepath.Join(e.dir, "arm.tar")
	writeImage(t, e.armOnly, "arm64")
	cat, err := ParseCatalog([]byte(`
[[kernel]]
name = "debian-6.1"
kernel = "kernels/vmlinuz-6.1"
initrd = "kernels/initrd-6.1.img"
cmdline = "console=ttyS0,115200"
arch = "x86_64"

[[kernel]]
name = "arm"
kernel = "kernels/vmlinuz-6.1"
arch = "aarch64"
`), e.dir)
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = New(Config{
		NodeURL:        nodeURL,
		DefaultKernel:  filepath.Join(e.kdir, "vmlinuz-6.1"),
		DefaultInitrd:  filepath.Join(e.kdir, "initrd-6.1.img"),
		DefaultCmdline: "console=ttyS0,115200",
		KernelDirs:     []string{e.kdir},
		Catalog:        cat,
		AgentBinaries:  map[string]string{"x86_64": filepath.Join(e.dir, "bmcinit-amd64")},
		CacheDir:       filepath.Join(e.dir, "cache"),
		Sources:        SourcePolicy{FetchAllow: mustAllow(t, "127.0.0.1")},
		Clock:          e.clk,
		Callbacks:      e.rec,
		Logger:         newTextLogger(e.logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(e.srv)
	t.Cleanup(e.http.Close)
	return e
}

func (e *env) req(job, boot uint64, node, mac string) Request {
	return Request{JobID: job, Boot: boot, Node: node, MAC: mac, Arch: "x86_64", Kernel: "debian-6.1", Cmdline: "quiet", Image: e.image, AuthorizedKey: "ssh-ed25519 AAAAC3Nza job-key"}
}

func (e *env) prepare(r Request) *Boot {
	e.t.Helper()
	b, err := e.srv.Prepare(context.Background(), r)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// get fetches a URL as a node would see it (the script's base URL is the
// node-facing one; the test server sits elsewhere on 127.0.0.1).
func (e *env) do(method, url, bearer string, body io.Reader, hdr ...string) (int, []byte) {
	e.t.Helper()
	url = strings.Replace(url, nodeURL, e.http.URL, 1)
	if strings.HasPrefix(url, "/") {
		url = e.http.URL + url
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) get(url string) (int, []byte) { return e.do("GET", url, "", nil) }

// scriptURLs pulls the kernel and initrd URLs out of a rendered iPXE script.
func scriptURLs(t *testing.T, script string) (kernel, initrd string) {
	t.Helper()
	for _, l := range strings.Split(script, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[0] == "kernel" {
			kernel = f[1]
		}
		if len(f) > 1 && f[0] == "initrd" {
			initrd = f[1]
		}
	}
	if kernel == "" || initrd == "" {
		t.Fatalf("no kernel/initrd in script:\n%s", script)
	}
	return kernel, initrd
}
