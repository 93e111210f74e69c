//go:build vlab

package boot

import (
	"bytes"
	"compress/gzip"
	"context"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"

	"github.com/bmc-sched/bmc/internal/clock"
)

// TestNetbootInQEMU boots a QEMU machine through its iPXE ROM from this
// server, the way the virtual lab does: boot.ipxe → /ipxe/<mac> → one-time
// kernel and initrd URLs → /bmcinit from the appended archive, which prints
// the kernel command line and powers off. Tagged vlab (about 15 s under TCG); kernel from
// BMC_TEST_KERNEL=/path/to/vmlinuz, with qemu-system-x86, ipxe-qemu and a
// static /usr/bin/busybox installed.
func TestNetbootInQEMU(t *testing.T) {
	kernel := os.Getenv("BMC_TEST_KERNEL")
	if kernel == "" {
		// The virtual lab's cached Debian kernel (make test brings a lab up first).
		home, _ := os.UserHomeDir()
		ks, _ := filepath.Glob(filepath.Join(home, ".cache", "bmc-vlab", "kernel", "*", "vmlinuz"))
		if len(ks) == 0 {
			t.Fatal("no kernel: set BMC_TEST_KERNEL or run scripts/vlab up once to cache one")
		}
		kernel = ks[len(ks)-1]
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatal("no qemu-system-x86_64: run scripts/install-deps")
	}
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal("no busybox: run scripts/install-deps")
	}
	dir := t.TempDir()
	kdir := filepath.Join(dir, "kernels")
	os.MkdirAll(kdir, 0o755)
	kb, err := os.ReadFile(kernel)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(kdir, "vmlinuz"), kb)
	write(t, filepath.Join(kdir, "initrd.img"), busyboxInitrd(t, bb))
	write(t, filepath.Join(dir, "bmcinit"), []byte("#!/bin/busybox sh\n/bin/busybox mkdir -p /proc\n/bin/busybox mount -t proc proc /proc\n/bin/busybox echo CMDLINE: $(/bin/busybox cat /proc/cmdline)\n/bin/busybox poweroff -f\n"))
	img := filepath.Join(dir, "app.tar")
	writeImage(t, img, "amd64")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	logs := &syncBuffer{}
	srv, err := New(Config{
		NodeURL:        "http://10.0.2.2:" + port, // slirp's view of the host's loopback
		DefaultKernel:  filepath.Join(kdir, "vmlinuz"),
		DefaultInitrd:  filepath.Join(kdir, "initrd.img"),
		DefaultCmdline: "console=ttyS0 panic=-1",
		AgentBinaries:  map[string]string{"x86_64": filepath.Join(dir, "bmcinit")},
		CacheDir:       filepath.Join(dir, "cache"),
		Clock:          clock.Real{},
		Logger:         newTextLogger(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	defer hs.Close()

	const mac = "52:54:00:12:34:56"
	b, err := srv.Prepare(context.Background(), Request{JobID: 7, Boot: 1, Node: "qemu1", MAC: mac, Arch: "x86_64", Cmdline: "quiet", Image: img})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, qemu, "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot", "-serial", "stdio", "-monitor", "none",
		"-netdev", "user,id=n0,ipv6=off,bootfile=http://10.0.2.2:"+port+"/boot.ipxe",
		"-device", "virtio-net-pci,netdev=n0,mac="+mac, "-boot", "n")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("QEMU did not power off in time:\n%s\n%s", tail(out), logs.String())
	}
	want := "CMDLINE: initrd=initrd.img console=ttyS0 panic=-1 quiet rdinit=/bmcinit bmc.url=http://10.0.2.2:" + port + " bmc.token=" + b.AgentToken
	if !bytes.Contains(out, []byte(want)) {
		t.Fatalf("guest did not run /bmcinit with the boot's command line (qemu err %v); want %q in:\n%s\nserver log:\n%s", err, want, tail(out), logs.String())
	}
	// Both artifact tokens were spent by the machine.
	for _, tok := range []string{b.KernelToken, b.InitrdToken} {
		srv.mu.Lock()
		used := srv.tokens[keyOf(tok)].used
		srv.mu.Unlock()
		if !used {
			t.Fatal("artifact token not used by the boot")
		}
	}
	t.Logf("netboot through iPXE to /bmcinit and power-off: %v", time.Since(start))
}

func busyboxInitrd(t *testing.T, bb []byte) []byte {
	t.Helper()
	var raw bytes.Buffer
	w := cpio.NewWriter(&raw)
	for _, f := range []struct {
		name string
		mode cpio.FileMode
		body []byte
	}{
		{"bin", cpio.TypeDir | 0o755, nil},
		{"bin/busybox", cpio.TypeReg | 0o755, bb},
		{"init", cpio.TypeReg | 0o755, []byte("#!/bin/busybox sh\n/bin/busybox echo WRONG-INIT\n/bin/busybox poweroff -f\n")},
	} {
		if err := w.WriteHeader(&cpio.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body))}); err != nil {
			t.Fatal(err)
		}
		w.Write(f.body)
	}
	w.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	return gz.Bytes()
}

func tail(b []byte) string {
	lines := strings.Split(string(b), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
