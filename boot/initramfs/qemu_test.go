//go:build vlab

package initramfs

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
)

// TestBootsInQEMU proves the kernel really unpacks the appended archive on
// top of a gzip-compressed initrd whose length is not a multiple of 4: the
// agent (here a script) runs as rdinit and uses busybox from the job's
// initrd. Tagged vlab (about 10 s under TCG); kernel from BMC_TEST_KERNEL=/path/to/vmlinuz,
// with qemu-system-x86_64 and a static /usr/bin/busybox installed.
func TestBootsInQEMU(t *testing.T) {
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
	// The job's initrd: busybox and an /init that must not run.
	var raw bytes.Buffer
	w := cpio.NewWriter(&raw)
	add := func(name string, mode cpio.FileMode, body []byte) {
		if err := w.WriteHeader(&cpio.Header{Name: name, Mode: mode, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	add("bin", cpio.TypeDir|0o755, nil)
	add("bin/busybox", cpio.TypeReg|0o755, bb)
	add("init", cpio.TypeReg|0o755, []byte("#!/bin/busybox sh\n/bin/busybox echo WRONG-INIT\n/bin/busybox poweroff -f\n"))
	w.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	gz.Write([]byte{0}) // push the length off a 4-byte boundary
	if gz.Len()%4 == 0 {
		gz.Write([]byte{0})
	}
	agent := []byte("#!/bin/busybox sh\n/bin/busybox echo BMCINIT-RAN-AS-PID-$$\n/bin/busybox poweroff -f\n")
	var out bytes.Buffer
	if err := Append(&out, &gz, bytes.NewReader(agent), int64(len(agent))); err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(t.TempDir(), "initrd.img")
	os.WriteFile(initrd, out.Bytes(), 0o644)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, qemu, "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
		"-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1 rdinit="+AgentPath)
	got, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("QEMU did not power off in time:\n%s", tail(got))
	}
	if !bytes.Contains(got, []byte("BMCINIT-RAN-AS-PID-1")) || bytes.Contains(got, []byte("WRONG-INIT")) {
		t.Fatalf("agent did not run as init (err %v):\n%s", err, tail(got))
	}
	t.Logf("kernel ran /bmcinit from the appended archive; QEMU exited after %v", time.Since(start))
}

func tail(b []byte) string {
	lines := strings.Split(string(b), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
