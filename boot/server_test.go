package boot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
	"github.com/klauspost/compress/zstd"

	"github.com/bmc-sched/bmc/agent/proto"
	"github.com/bmc-sched/bmc/boot/image"
)

func TestEndToEnd(t *testing.T) {
	e := newEnv(t)
	b := e.prepare(e.req(42, 1, "node1", "52:54:00:12:34:56"))
	if b.KernelName != "debian-6.1" || b.MAC != "52:54:00:12:34:56" || b.Rootfs.Platform != "linux/amd64" {
		t.Fatalf("boot = %+v", b)
	}
	if want := "console=ttyS0,115200 quiet rdinit=/bmcinit bmc.url=" + nodeURL; b.Cmdline != want {
		t.Fatalf("Cmdline = %q, want %q", b.Cmdline, want)
	}

	// First hop, static.
	code, body := e.get("/boot.ipxe")
	if code != 200 {
		t.Fatalf("boot.ipxe: %d", code)
	}
	golden(t, "chain.ipxe", body)

	// Per-MAC script, as iPXE asks for it (${mac:hexhyp}).
	code, body = e.get("/ipxe/52-54-00-12-34-56")
	if code != 200 {
		t.Fatalf("ipxe: %d %s", code, body)
	}
	script := string(body)
	kURL, iURL := scriptURLs(t, script)
	masked := strings.NewReplacer(b.KernelToken, "KERNEL-TOKEN", b.InitrdToken, "INITRD-TOKEN", b.AgentToken, "AGENT-TOKEN").Replace(script)
	golden(t, "e2e-job42.ipxe", []byte(masked))

	// A machine without a job gets the no-job script.
	_, body = e.get("/ipxe/52-54-00-99-99-99")
	golden(t, "nojob.ipxe", body)

	// Kernel: right bytes, then the token is spent.
	code, body = e.get(kURL)
	if code != 200 || !bytes.Equal(body, e.kernel) {
		t.Fatalf("kernel: %d %q", code, body)
	}
	if code, body = e.get(kURL); code != 403 || !strings.Contains(string(body), "already used") {
		t.Fatalf("kernel again: %d %s", code, body)
	}
	// The kernel token does not open the initrd.
	if code, body = e.get(strings.Replace(kURL, "vmlinuz", "initrd.img", 1)); code != 403 || !strings.Contains(string(body), "for the kernel") {
		t.Fatalf("kernel token on initrd: %d %s", code, body)
	}

	// Initrd: the original bytes, zero padding, then a cpio with /bmcinit 0755.
	code, body = e.get(iURL)
	if code != 200 {
		t.Fatalf("initrd: %d", code)
	}
	checkInitrd(t, body, e.initrd, e.agent)
	if code, _ = e.get(iURL); code != 403 {
		t.Fatalf("initrd again: %d", code)
	}

	// Agent callbacks need the bearer token.
	if code, _ = e.do("GET", proto.PathConfig, "", nil); code != 403 {
		t.Fatalf("config without token: %d", code)
	}
	if code, _ = e.do("GET", proto.PathConfig, b.KernelToken, nil); code != 403 {
		t.Fatalf("config with an artifact token: %d", code)
	}
	code, body = e.do("GET", proto.PathConfig, b.AgentToken, nil)
	if code != 200 {
		t.Fatalf("config: %d %s", code, body)
	}
	var cfg proto.Config
	if err := json.Unmarshal(body, &cfg); err != nil {
		t.Fatal(err)
	}
	want := proto.Config{JobID: 42, Node: "node1", Hostname: "node1", AuthorizedKey: "ssh-ed25519 AAAAC3Nza job-key",
		RootfsURL: nodeURL + "/agent/rootfs", RootfsSize: b.Rootfs.Size, RootfsDigest: b.Rootfs.Digest, HeartbeatSeconds: 10, SSHPort: 22}
	if cfg != want {
		t.Fatalf("config = %+v\nwant %+v", cfg, want)
	}

	// Rootfs: whole, digest as announced, and by range.
	code, body = e.do("GET", cfg.RootfsURL, b.AgentToken, nil)
	sum := sha256.Sum256(body)
	if code != 200 || int64(len(body)) != cfg.RootfsSize || "sha256:"+hex.EncodeToString(sum[:]) != cfg.RootfsDigest {
		t.Fatalf("rootfs: %d, %d bytes, digest mismatch", code, len(body))
	}
	if !bytes.Contains(body, []byte("ID=test\n")) {
		t.Fatal("rootfs lacks the image's file")
	}
	whole := body
	code, body = e.do("GET", cfg.RootfsURL, b.AgentToken, nil, "Range", "bytes=512-")
	if code != 206 || !bytes.Equal(body, whole[512:]) {
		t.Fatalf("rootfs range: %d, %d bytes", code, len(body))
	}
	if code, _ = e.do("GET", cfg.RootfsURL, "", nil); code != 403 {
		t.Fatalf("rootfs without token: %d", code)
	}

	// Callbacks reach the controller with the right boot.
	post := func(path, token string, v any) int {
		j, _ := json.Marshal(v)
		c, _ := e.do("POST", path, token, bytes.NewReader(j))
		return c
	}
	if c := post(proto.PathProgress, b.AgentToken, proto.Progress{Phase: "network"}); c != 204 {
		t.Fatalf("progress: %d", c)
	}
	if c := post(proto.PathReady, b.AgentToken, proto.Ready{HostKey: "ssh-ed25519 HOST"}); c != 204 {
		t.Fatalf("ready: %d", c)
	}
	if c := post(proto.PathHeartbeat, "", proto.Heartbeat{Running: true}); c != 403 {
		t.Fatalf("heartbeat without token: %d", c)
	}
	if c, _ := e.do("POST", proto.PathHeartbeat, b.AgentToken, strings.NewReader("{not json")); c != 400 {
		t.Fatalf("bad body: %d", c)
	}
	// The agent token slides: two heartbeats 9 minutes apart outlive the 10-minute TTL.
	for range 3 {
		e.clk.Advance(9 * time.Minute)
		if c := post(proto.PathHeartbeat, b.AgentToken, proto.Heartbeat{Running: true}); c != 204 {
			t.Fatalf("heartbeat: %d", c)
		}
	}
	wantCalls := []string{
		"job 42 boot 1 node1: progress network",
		"job 42 boot 1 node1: ready ssh-ed25519 HOST",
		"job 42 boot 1 node1: heartbeat true",
		"job 42 boot 1 node1: heartbeat true",
		"job 42 boot 1 node1: heartbeat true",
	}
	if got := e.rec.list(); strings.Join(got, "\n") != strings.Join(wantCalls, "\n") {
		t.Fatalf("callbacks:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantCalls, "\n"))
	}

	// Finish revokes.
	e.srv.Finish(42)
	defer func() {
		logs := e.logs.String()
		for _, tok := range []string{b.KernelToken, b.InitrdToken, b.AgentToken} {
			if strings.Contains(logs, tok) {
				t.Fatalf("a token leaked into the log:\n%s", logs)
			}
		}
		if !strings.Contains(logs, "token="+fingerprint(b.KernelToken)) || !strings.Contains(logs, "reason=\"token already used\"") {
			t.Fatalf("refusals not logged with a fingerprint:\n%s", logs)
		}
	}()
	if code, body = e.do("GET", proto.PathConfig, b.AgentToken, nil); code != 403 || !strings.Contains(string(body), "revoked") {
		t.Fatalf("config after Finish: %d %s", code, body)
	}
	if c := post(proto.PathHeartbeat, b.AgentToken, proto.Heartbeat{}); c != 403 {
		t.Fatalf("heartbeat after Finish: %d", c)
	}
}

func checkInitrd(t *testing.T, got, orig, agent []byte) {
	t.Helper()
	if !bytes.HasPrefix(got, orig) {
		t.Fatal("served initrd does not start with the original")
	}
	off := (len(orig) + 3) &^ 3
	zr, err := zstd.NewReader(bytes.NewReader(got[off:]))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	r := cpio.NewReader(zr)
	h, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r)
	if h.Name != "bmcinit" || h.Mode.Perm() != 0o755 || !h.Mode.IsRegular() || !bytes.Equal(body, agent) {
		t.Fatalf("appended entry %q mode %o, %d bytes", h.Name, h.Mode, len(body))
	}
}

func TestTokensBoundToBoot(t *testing.T) {
	e := newEnv(t)
	first := e.prepare(e.req(42, 1, "node1", "52:54:00:12:34:56"))
	other := e.prepare(e.req(43, 1, "node2", "52:54:00:00:00:02"))
	// A retry of job 42 is a new boot: the first boot's tokens die.
	retry := e.prepare(e.req(42, 2, "node1", "52:54:00:12:34:56"))
	if retry.KernelToken == first.KernelToken || retry.AgentToken == first.AgentToken {
		t.Fatal("retry reused tokens")
	}
	if c, _ := e.get("/a/" + first.KernelToken + "/vmlinuz"); c != 403 {
		t.Fatalf("old boot's kernel token: %d", c)
	}
	if c, _ := e.do("GET", proto.PathConfig, first.AgentToken, nil); c != 403 {
		t.Fatalf("old boot's agent token: %d", c)
	}
	// Each token gives its own boot's config.
	for _, b := range []*Boot{retry, other} {
		_, body := e.do("GET", proto.PathConfig, b.AgentToken, nil)
		var cfg proto.Config
		json.Unmarshal(body, &cfg)
		if cfg.JobID != b.JobID || cfg.Node != b.Node {
			t.Fatalf("token of job %d got config %+v", b.JobID, cfg)
		}
	}
	// Finishing job 43 leaves job 42 alone.
	e.srv.Finish(43)
	if c, _ := e.do("GET", proto.PathConfig, other.AgentToken, nil); c != 403 {
		t.Fatal("finished job's token still works")
	}
	if c, _ := e.get("/a/" + retry.KernelToken + "/vmlinuz"); c != 200 {
		t.Fatalf("live boot's kernel: %d", c)
	}
	// Made-up and malformed tokens and paths.
	for _, p := range []string{"/a/AAAA/vmlinuz", "/a/" + retry.InitrdToken + "/passwd", "/a/../../etc/passwd", "/a/" + retry.InitrdToken, "/agent/nothing", "/ipxe/not-a-mac"} {
		if c, _ := e.get(p); c != 403 && c != 404 {
			t.Errorf("GET %s: %d, want 403/404", p, c)
		}
	}
	if c, _ := e.do("HEAD", "/a/"+retry.InitrdToken+"/initrd.img", "", nil); c != 403 {
		t.Fatalf("HEAD: %d", c)
	}
	if c, _ := e.get("/a/" + retry.InitrdToken + "/initrd.img"); c != 200 {
		t.Fatalf("HEAD spent the token: %d", c)
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t)
	b := e.prepare(e.req(44, 1, "node1", "52:54:00:12:34:56"))
	e.clk.Advance(DefaultTokenTTL)
	if c, body := e.get("/a/" + b.KernelToken + "/vmlinuz"); c != 403 || !strings.Contains(string(body), "expired") {
		t.Fatalf("expired kernel token: %d %s", c, body)
	}
	if c, _ := e.do("GET", proto.PathConfig, b.AgentToken, nil); c != 403 {
		t.Fatalf("expired agent token: %d", c)
	}
	_, body := e.get("/ipxe/52-54-00-12-34-56")
	golden(t, "nojob.ipxe", body)
}

func TestGRUBRoute(t *testing.T) {
	e := newEnv(t)
	r := e.req(45, 1, "arm1", "52:54:00:aa:bb:cc")
	r.Loader = LoaderGRUB
	b := e.prepare(r)
	// iPXE asking for a GRUB machine's boot gets nothing.
	_, body := e.get("/ipxe/52-54-00-aa-bb-cc")
	golden(t, "nojob.ipxe", body)
	code, body := e.get("/grub.cfg-52:54:00:aa:bb:cc")
	if code != 200 {
		t.Fatalf("grub.cfg: %d", code)
	}
	masked := strings.NewReplacer(b.KernelToken, "KERNEL-TOKEN", b.InitrdToken, "INITRD-TOKEN", b.AgentToken, "AGENT-TOKEN").Replace(string(body))
	golden(t, "e2e-job45.grub", []byte(masked))
	_, body = e.get("/grub.cfg-52:54:00:aa:bb:cc")
	golden(t, "nojob.grub", body)
}

func TestPrepareErrors(t *testing.T) {
	e := newEnv(t)
	big := bytes.Repeat([]byte("k"), 2048)
	dl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/vmlinuz":
			w.Write(e.kernel)
		case "/big":
			w.Write(big)
		default:
			http.NotFound(w, r)
		}
	}))
	defer dl.Close()
	e.srv.maxDownload = 1024
	tests := []struct {
		name string
		mod  func(*Request)
		want []error
		msg  string
	}{
		{"unknown kernel name", func(r *Request) { r.Kernel = "nope" }, []error{ErrUnknownKernel}, `"nope" is not in the kernel catalog`},
		{"catalog arch", func(r *Request) { r.Kernel = "arm" }, []error{ErrArch}, "kernel arm is for aarch64"},
		{"path outside", func(r *Request) { r.Kernel = e.dir + "/outside/vmlinuz" }, []error{ErrForbiddenPath}, ""},
		{"dot-dot escape", func(r *Request) { r.Kernel = e.kdir + "/../outside/vmlinuz" }, []error{ErrForbiddenPath}, ""},
		{"symlink escape", func(r *Request) { r.Kernel = e.kdir + "/escape" }, []error{ErrForbiddenPath}, ""},
		{"kernel dir itself", func(r *Request) { r.Kernel = e.kdir }, []error{ErrForbiddenPath}, ""},
		{"missing file in dir", func(r *Request) { r.Kernel = e.kdir + "/none" }, []error{ErrUnknownKernel}, "does not exist"},
		{"missing outside reveals nothing", func(r *Request) { r.Kernel = "/etc/nope" }, []error{ErrForbiddenPath}, ""},
		{"initrd outside", func(r *Request) { r.Initrd = "/etc/passwd" }, []error{ErrForbiddenPath}, ""},
		{"download 404", func(r *Request) { r.Kernel = dl.URL + "/missing" }, []error{ErrDownload}, "404"},
		{"download too big", func(r *Request) { r.Kernel = dl.URL + "/big" }, []error{ErrTooLarge}, ""},
		{"unknown image", func(r *Request) { r.Image = e.dir + "/nope.tar" }, []error{ErrImage, image.ErrNotFound}, "nope.tar: not found"},
		{"image for another arch", func(r *Request) { r.Image = e.armOnly }, []error{ErrImage, image.ErrNoPlatform}, "node needs linux/amd64"},
		{"no image", func(r *Request) { r.Image = "" }, []error{ErrBadRequest}, ""},
		{"cmdline injection", func(r *Request) { r.Cmdline = "quiet\nshell" }, []error{ErrCmdline}, ""},
		{"cmdline override", func(r *Request) { r.Cmdline = "bmc.token=mine" }, []error{ErrCmdline}, "reserved"},
		{"bad MAC", func(r *Request) { r.MAC = "nope" }, []error{ErrBadRequest}, ""},
		{"bad node", func(r *Request) { r.Node = "a b" }, []error{ErrBadRequest}, ""},
		{"bad arch", func(r *Request) { r.Arch = "sparc" }, []error{ErrBadRequest}, ""},
		{"no agent for arch", func(r *Request) { r.Arch = "aarch64"; r.Kernel = "arm" }, []error{ErrNoAgent}, ""},
		{"bad loader", func(r *Request) { r.Loader = "pxelinux" }, []error{ErrBadRequest}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.req(50, 1, "node1", "52:54:00:12:34:56")
			tt.mod(&r)
			_, err := e.srv.Prepare(context.Background(), r)
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Fatalf("err = %v, want %v", err, w)
				}
			}
			if !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.msg)
			}
		})
	}
	// Nothing failed left a boot or a lease behind.
	e.srv.mu.Lock()
	n := len(e.srv.byMAC) + len(e.srv.tokens)
	e.srv.mu.Unlock()
	if n != 0 {
		t.Fatalf("failed Prepares left %d boots/tokens", n)
	}
}

func TestKernelForms(t *testing.T) {
	e := newEnv(t)
	dl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("downloaded kernel")) }))
	defer dl.Close()
	tests := []struct {
		name, kernel, initrd string
		wantName             string
		wantKernel           string
		wantInitrdPrefix     []byte
	}{
		{"default", "", "", "default", string(e.kernel), e.initrd},
		{"catalog", "debian-6.1", "", "debian-6.1", string(e.kernel), e.initrd},
		{"path without initrd", e.kdir + "/vmlinuz-6.1", "", e.kdir + "/vmlinuz-6.1", string(e.kernel), nil},
		{"path with initrd by catalog name", e.kdir + "/vmlinuz-6.1", "debian-6.1", e.kdir + "/vmlinuz-6.1", string(e.kernel), e.initrd},
		{"url", dl.URL + "/vmlinuz", e.kdir + "/initrd-6.1.img", dl.URL + "/vmlinuz", "downloaded kernel", e.initrd},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.req(uint64(60+i), 1, "node1", "52:54:00:12:34:56")
			r.Kernel, r.Initrd = tt.kernel, tt.initrd
			b := e.prepare(r)
			if b.KernelName != tt.wantName {
				t.Fatalf("KernelName = %q", b.KernelName)
			}
			if _, body := e.get("/a/" + b.KernelToken + "/vmlinuz"); string(body) != tt.wantKernel {
				t.Fatalf("kernel = %q", body)
			}
			_, body := e.get("/a/" + b.InitrdToken + "/initrd.img")
			checkInitrd(t, body, tt.wantInitrdPrefix, e.agent)
			if b.Initrd.Size != int64(len(body)) {
				t.Fatalf("Initrd.Size %d, served %d", b.Initrd.Size, len(body))
			}
		})
	}
}

func TestCachedAcrossPrepares(t *testing.T) {
	e := newEnv(t)
	e.prepare(e.req(70, 1, "node1", "52:54:00:12:34:56"))
	fills := e.srv.Cache().Fills() // rootfs + initrd
	if fills != 2 {
		t.Fatalf("fills after first Prepare = %d, want 2", fills)
	}
	e.prepare(e.req(71, 1, "node2", "52:54:00:00:00:02"))
	if n := e.srv.Cache().Fills(); n != fills {
		t.Fatalf("second Prepare of the same kernel and image filled %d more", n-fills)
	}
}

// TestInitrdAssemblyTime measures appending an 8 MiB agent to a 32 MiB initrd.
func TestInitrdAssemblyTime(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	e := newEnv(t)
	write(t, filepath.Join(e.kdir, "big.img"), bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 32<<20/7))
	write(t, filepath.Join(e.dir, "bmcinit-amd64"), bytes.Repeat([]byte{9}, 8<<20))
	r := e.req(80, 1, "node1", "52:54:00:12:34:56")
	r.Kernel, r.Initrd = e.kdir+"/vmlinuz-6.1", e.kdir+"/big.img"
	start := time.Now()
	b := e.prepare(r)
	first := time.Since(start)
	r.JobID = 81
	start = time.Now()
	e.prepare(r)
	t.Logf("Prepare with a 32 MiB initrd + 8 MiB agent: %v first (hash + assemble %d bytes), %v cached", first, b.Initrd.Size, time.Since(start))
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSetCatalog(t *testing.T) {
	e := newEnv(t)
	cat, err := ParseCatalog([]byte("[[kernel]]\nname = \"new\"\nkernel = \"kernels/vmlinuz-6.1\"\n"), e.dir)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetCatalog(cat)
	r := e.req(90, 1, "node1", "52:54:00:12:34:56")
	r.Kernel = "new"
	if b := e.prepare(r); b.KernelName != "new" {
		t.Fatalf("KernelName = %q", b.KernelName)
	}
	r.Kernel = "debian-6.1"
	if _, err := e.srv.Prepare(context.Background(), r); !errors.Is(err, ErrUnknownKernel) {
		t.Fatalf("removed kernel: %v", err)
	}
	if got := e.srv.Catalog().List(); len(got) != 1 || got[0].Name != "new" {
		t.Fatalf("Catalog() = %+v", got)
	}
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
