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
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/agent"
	"github.com/bmc-sched/bmc/agent/proto"
)

// labArtifacts finds the kernel and initrd scripts/vlab caches.
func labArtifacts(t *testing.T) (kernel, initrd string) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the lab's cached kernel is amd64")
	}
	for _, tool := range []string{"qemu-system-x86_64", "cpio", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("no %s: run scripts/install-deps", tool)
		}
	}
	cache := os.Getenv("VLAB_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "bmc-vlab")
	}
	ks, _ := filepath.Glob(filepath.Join(cache, "kernel", "*", "vmlinuz"))
	is, _ := filepath.Glob(filepath.Join(cache, "initrd", "*.img"))
	if len(ks) == 0 || len(is) == 0 {
		t.Fatalf("no lab kernel/initrd under %s (scripts/vlab up fetches them; make test runs the lab tests first)", cache)
	}
	return ks[len(ks)-1], is[len(is)-1]
}

func busyboxRootfs(t *testing.T) []byte {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal("no /bin/busybox (busybox-static) for the test image: run scripts/install-deps")
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
	for _, a := range []string{"sh", "hostname", "cat", "id"} {
		add(&tar.Header{Name: "./bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"}, nil)
	}
	add(&tar.Header{Name: "./etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakeCtl is the controller's node listener, recording the callbacks.
type fakeCtl struct {
	mu     sync.Mutex
	phases []string
	beats  []proto.Heartbeat
	ready  chan proto.Ready
}

// TestQEMUBoot boots the lab's kernel with its initrd plus an appended
// bmcinit archive, exactly as bmcctld does, and drives the agent: config,
// rootfs, Ready, a command in the image, re-attach, power-off.
func TestQEMUBoot(t *testing.T) {
	kernel, labInitrd := labArtifacts(t)
	dir := t.TempDir()

	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "ird", "bmcinit"), "github.com/bmc-sched/bmc/cmd/bmcinit")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bmcinit: %v\n%s", err, out)
	}
	lab, err := os.ReadFile(labInitrd)
	if err != nil {
		t.Fatal(err)
	}
	pack := exec.Command("cpio", "-o", "-H", "newc", "--quiet")
	pack.Dir = filepath.Join(dir, "ird")
	pack.Stdin = strings.NewReader("bmcinit\n")
	appended, err := pack.Output()
	if err != nil {
		t.Fatalf("cpio: %v", err)
	}
	// The kernel reads a cpio header after a compressed archive only at a
	// 4-byte aligned offset; zeros in between are skipped.
	lab = append(lab, make([]byte, (4-len(lab)%4)%4)...)
	initrd := filepath.Join(dir, "initrd.img")
	if err := os.WriteFile(initrd, append(lab, appended...), 0o644); err != nil {
		t.Fatal(err)
	}

	rootfs := busyboxRootfs(t)
	sum := sha256.Sum256(rootfs)
	signer, _, authorized, err := agent.NewJobKey()
	if err != nil {
		t.Fatal(err)
	}
	const token = "qemu-test-token"
	ctl := &fakeCtl{ready: make(chan proto.Ready, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		ctl.mu.Lock()
		defer ctl.mu.Unlock()
		switch r.URL.Path {
		case proto.PathConfig:
			json.NewEncoder(w).Encode(proto.Config{JobID: 5, Node: "vnode1", Hostname: "vnode1", AuthorizedKey: authorized,
				RootfsURL: "/rootfs/5.tar", RootfsSize: int64(len(rootfs)), RootfsDigest: "sha256:" + hex.EncodeToString(sum[:]), HeartbeatSeconds: 1})
		case "/rootfs/5.tar":
			w.Write(rootfs)
		case proto.PathProgress:
			var p proto.Progress
			json.NewDecoder(r.Body).Decode(&p)
			ctl.phases = append(ctl.phases, p.Phase)
			if p.Phase == "error" {
				t.Errorf("agent reported: %s", p.Detail)
			}
		case proto.PathReady:
			var rd proto.Ready
			json.NewDecoder(r.Body).Decode(&rd)
			ctl.ready <- rd
		case proto.PathHeartbeat:
			var hb proto.Heartbeat
			json.NewDecoder(r.Body).Decode(&hb)
			ctl.beats = append(ctl.beats, hb)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sshAddr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	serial := filepath.Join(dir, "serial.log")
	qemu := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-m", "256",
		"-kernel", kernel, "-initrd", initrd,
		"-append", fmt.Sprintf("console=ttyS0 panic=-1 rdinit=/bmcinit %s=http://10.0.2.2:%d %s=%s", proto.ParamURL, port, proto.ParamToken, token),
		"-display", "none", "-monitor", "none", "-serial", "file:"+serial, "-no-reboot",
		"-netdev", "user,id=n0,restrict=off,hostfwd=tcp:"+sshAddr+"-:22", "-device", "virtio-net-pci,netdev=n0")
	if err := qemu.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- qemu.Wait() }()
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(serial)
			t.Logf("serial console:\n%s", b)
		}
	}()

	var rd proto.Ready
	select {
	case rd = <-ctl.ready:
	case err := <-exited:
		t.Fatalf("QEMU exited before Ready: %v", err)
	case <-ctx.Done():
		t.Fatal("no Ready within the deadline")
	}
	hk, err := agent.ParseHostKey(rd.HostKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := agent.Dial(ctx, sshAddr, hk, signer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := proto.RunRequest{JobID: 5, Shell: true, Argv: []string{"echo hello from $(hostname); id -u; cat /etc/resolv.conf >/dev/null; echo oops >&2; exit 3"}}
	var out, errb bytes.Buffer
	code, err := c.Run(ctx, req, &out, &errb)
	if err != nil || code != 3 || out.String() != "hello from vnode1\n0\n" || errb.String() != "oops\n" {
		t.Fatalf("Run = %d, %v, stdout %q, stderr %q", code, err, out.String(), errb.String())
	}
	var again bytes.Buffer
	if code, err := c.Attach(ctx, 0, 0, &again, io.Discard); err != nil || code != 3 || again.String() != out.String() {
		t.Fatalf("Attach = %d, %v, %q", code, err, again.String())
	}
	if err := c.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-ctx.Done():
		t.Fatal("the machine did not power off")
	}
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if got := strings.Join(ctl.phases, ","); got != "network,rootfs,sshd" {
		t.Errorf("phases = %s", got)
	}
	if len(ctl.beats) == 0 {
		t.Error("no heartbeat")
	}
}
