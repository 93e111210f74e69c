//go:build vlab

package pid1_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bmc-sched/bmc/agent"
	"github.com/bmc-sched/bmc/agent/proto"
	"github.com/bmc-sched/bmc/boot/initramfs"
)

// labMachine is one architecture's lab parts: the kernel and initrd that
// scripts/vlab caches, and how QEMU boots them.
type labMachine struct {
	goarch, qemu string
	kernel       string // bzImage (x86) or raw Image (arm64)
	initrd       string // the lab's busybox + NIC modules initrd
	busybox      string // static busybox for the test image
	args         []string
}

func labCache() string {
	if c := os.Getenv("VLAB_CACHE"); c != "" {
		return c
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "bmc-vlab")
}

func newest(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) == 0 {
		t.Fatalf("no %s (scripts/vlab up [--arm 1] fetches the lab's parts; make test runs the lab tests first)", pattern)
	}
	return m[len(m)-1]
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("no %s: run scripts/install-deps (and scripts/vlab up --arm 1 for aarch64)", tool)
		}
	}
}

// x86Machine is the lab's x86 node booted directly (-kernel), as in TestQEMUBoot.
func x86Machine(t *testing.T) labMachine {
	needTools(t, "qemu-system-x86_64", "go")
	c := labCache()
	return labMachine{goarch: "amd64", qemu: "qemu-system-x86_64",
		kernel: newest(t, filepath.Join(c, "kernel", "*", "vmlinuz")), initrd: newest(t, filepath.Join(c, "initrd", "*.img")),
		busybox: "/bin/busybox", args: []string{"-accel", "tcg", "-m", "256", "-device", "virtio-rng-pci"}}
}

// armMachine is the lab's aarch64 node under UEFI (edk2 starts the kernel's
// EFI stub from -kernel), so the kexec runs from a UEFI-booted kernel as
// after the lab's GRUB.
func armMachine(t *testing.T) labMachine {
	needTools(t, "qemu-system-aarch64", "go")
	c := labCache()
	fw := "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd"
	if _, err := os.Stat(fw); err != nil {
		t.Fatal("no edk2 for aarch64: scripts/vlab up 1 --arm 1 installs qemu-efi-aarch64")
	}
	return labMachine{goarch: "arm64", qemu: "qemu-system-aarch64",
		kernel: newest(t, filepath.Join(c, "arm64", "kernel", "*", "vmlinux")), initrd: newest(t, filepath.Join(c, "arm64", "initrd", "*.img")),
		busybox: filepath.Join(c, "arm64", "busybox"),
		args: []string{"-M", "virt", "-cpu", "cortex-a57", "-accel", "tcg", "-m", "512", "-bios", fw,
			"-boot", "menu=on,splash-time=0", "-device", "virtio-rng-pci"}}
}

// agentInitrd builds bmcinit for m and appends it to the lab initrd the way
// bmcctld does; extra files go into the agent's archive after it.
func (m labMachine) agentInitrd(t *testing.T, dir string, extra ...initramfs.File) string {
	t.Helper()
	bin := filepath.Join(dir, "bmcinit-"+m.goarch)
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/bmc-sched/bmc/cmd/bmcinit")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+m.goarch)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bmcinit: %v\n%s", err, out)
	}
	lab, err := os.Open(m.initrd)
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	a, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	fi, _ := a.Stat()
	out := filepath.Join(dir, "initrd-"+m.goarch+".img")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := initramfs.Append(f, lab, a, fi.Size(), extra...); err != nil {
		t.Fatal(err)
	}
	return out
}

// imageTar is a tiny image: busybox with the applets the tests use.
func imageTar(t *testing.T, busybox string) []byte {
	t.Helper()
	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatalf("no static busybox %s for the test image: run scripts/install-deps", busybox)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body []byte) {
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"./", "./bin/", "./etc/", "./root/"} {
		add(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	add(&tar.Header{Name: "./bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb)
	for _, a := range []string{"sh", "hostname", "cat", "id", "sleep", "setsid", "rm", "ls", "grep"} {
		add(&tar.Header{Name: "./bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"}, nil)
	}
	add(&tar.Header{Name: "./etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// labBoot is one boot (or one job of a reused boot) the fake controller knows
// by its agent token.
type labBoot struct {
	token string
	cfg   proto.Config
	key   ssh.Signer
}

// fakeCtl is the controller's node listener: configs per token, the image,
// files under /a/, and the callbacks, recorded.
type fakeCtl struct {
	t      *testing.T
	srv    *httptest.Server
	port   int
	rootfs []byte

	// mu guards everything below: the handler reads it from the server's
	// goroutines, and the only happens-before edge the race detector could
	// see between a test's writes and a guest's fetch runs through QEMU.
	mu     sync.Mutex
	files  map[string][]byte // served without a token, like /a/{token}/...
	boots  map[string]labBoot
	phases []string // "token-prefix:phase"
	beats  map[string]int
	ready  chan readyCall
}

type readyCall struct {
	token string
	ready proto.Ready
}

func newFakeCtl(t *testing.T, rootfs []byte) *fakeCtl {
	c := &fakeCtl{t: t, rootfs: rootfs, files: map[string][]byte{}, boots: map[string]labBoot{}, beats: map[string]int{}, ready: make(chan readyCall, 4)}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	c.port = c.srv.Listener.Addr().(*net.TCPAddr).Port
	return c
}

// addBoot registers a job's token and per-job key.
func (c *fakeCtl) addBoot(t *testing.T, token string, jobID uint64, host string) labBoot {
	signer, _, authorized, err := agent.NewJobKey()
	if err != nil {
		t.Fatal(err)
	}
	b := labBoot{token: token, key: signer, cfg: proto.Config{JobID: jobID, Node: host, Hostname: host, AuthorizedKey: authorized,
		RootfsURL: fmt.Sprintf("/rootfs/%d.tar", jobID), RootfsSize: int64(len(c.rootfs)), RootfsDigest: digest(c.rootfs), HeartbeatSeconds: 1}}
	c.mu.Lock()
	c.boots[token] = b
	c.mu.Unlock()
	return b
}

// addFile serves body at path without a token, like /a/{token}/... .
func (c *fakeCtl) addFile(path string, body []byte) {
	c.mu.Lock()
	c.files[path] = body
	c.mu.Unlock()
}

func (c *fakeCtl) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	body, ok := c.files[r.URL.Path]
	c.mu.Unlock()
	if ok {
		w.Write(body)
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	c.mu.Lock()
	b, ok := c.boots[tok]
	c.mu.Unlock()
	if !ok {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case proto.PathConfig:
		json.NewEncoder(w).Encode(b.cfg)
	case b.cfg.RootfsURL:
		w.Write(c.rootfs)
	case proto.PathProgress:
		var p proto.Progress
		json.NewDecoder(r.Body).Decode(&p)
		c.mu.Lock()
		c.phases = append(c.phases, tok+":"+p.Phase)
		c.mu.Unlock()
		if p.Phase == "error" {
			c.t.Errorf("agent reported: %s", p.Detail)
		}
	case proto.PathReady:
		var rd proto.Ready
		json.NewDecoder(r.Body).Decode(&rd)
		c.ready <- readyCall{tok, rd}
	case proto.PathHeartbeat:
		c.mu.Lock()
		c.beats[tok]++
		c.mu.Unlock()
	default:
		http.NotFound(w, r)
	}
}

// vm is a running QEMU with its serial console in a file and the guest's
// SSH port forwarded to sshAddr on 127.0.0.1.
type vm struct {
	sshAddr string
	serial  string
	exited  chan error
}

func (m labMachine) start(t *testing.T, ctx context.Context, dir, initrd, cmdline string) *vm {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v := &vm{sshAddr: l.Addr().String(), serial: filepath.Join(dir, "serial-"+m.goarch+".log"), exited: make(chan error, 1)}
	l.Close()
	nic := "virtio-net-pci,netdev=n0"
	if m.goarch == "arm64" {
		nic += ",romfile=" // the default option ROM is x86 code
	}
	args := append(append([]string{}, m.args...), "-kernel", m.kernel, "-initrd", initrd, "-append", cmdline,
		"-display", "none", "-monitor", "none", "-serial", "file:"+v.serial, "-no-reboot",
		"-netdev", "user,id=n0,restrict=off,hostfwd=tcp:"+v.sshAddr+"-:22", "-device", nic)
	q := exec.CommandContext(ctx, m.qemu, args...)
	if err := q.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { v.exited <- q.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(v.serial)
			t.Logf("serial console:\n%s", b)
		}
	})
	return v
}

// waitReady waits for the agent's Ready with token.
func (v *vm) waitReady(t *testing.T, ctx context.Context, c *fakeCtl, token string) proto.Ready {
	t.Helper()
	for {
		select {
		case rc := <-c.ready:
			if rc.token == token {
				return rc.ready
			}
			t.Fatalf("Ready with token %q, want %q", rc.token, token)
		case err := <-v.exited:
			t.Fatalf("QEMU exited before Ready: %v", err)
		case <-ctx.Done():
			t.Fatal("no Ready within the deadline")
		}
	}
}

// dial connects with b's key to the agent that announced rd.
func (v *vm) dial(t *testing.T, ctx context.Context, rd proto.Ready, b labBoot) *agent.Client {
	t.Helper()
	hk, err := agent.ParseHostKey(rd.HostKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := agent.Dial(ctx, v.sshAddr, hk, b.key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (v *vm) powerOff(t *testing.T, ctx context.Context, c *agent.Client) {
	t.Helper()
	if err := c.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-v.exited:
	case <-ctx.Done():
		t.Fatal("the machine did not power off")
	}
}

func bootCmdline(m labMachine, port int, token string, extra ...string) string {
	console := "console=ttyS0"
	if m.goarch == "arm64" {
		// earlycon shows a kexec'd kernel that dies before its console.
		console = "earlycon console=ttyAMA0"
	}
	return strings.Join(append([]string{console, "panic=-1", "rdinit=" + initramfs.AgentPath,
		fmt.Sprintf("%s=http://10.0.2.2:%d", proto.ParamURL, port), proto.ParamToken + "=" + token}, extra...), " ")
}

// waitFor polls cond every 50 ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) bool {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// lockedBuffer collects a stream for several goroutines and signals when
// it first holds want.
type lockedBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.want != "" && strings.Contains(b.buf.String(), b.want) {
		b.want = ""
		close(b.seen)
	}
	return n, err
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
