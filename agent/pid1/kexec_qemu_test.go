//go:build vlab

package pid1_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/agent"
	"github.com/bmc-sched/bmc/agent/proto"
	"github.com/bmc-sched/bmc/boot/initramfs"
)

func TestQEMUKexecX86(t *testing.T) { testKexec(t, x86Machine(t)) }

// TestQEMUKexecArm64: Debian's arm64 kernel has no kexec_file_load; with
// kexec-tools in the agent's archive (as bmcctld puts it there, from the
// lab's build: scripts/lib/kexec.sh) the agent kexecs with kexec_load, and
// the new kernel, entered without the firmware, calls back.
func TestQEMUKexecArm64(t *testing.T) {
	m := armMachine(t)
	tool := filepath.Join(labCache(), "arm64", "kexec-tools", "kexec")
	fi, err := os.Stat(tool)
	if err != nil {
		t.Fatalf("no kexec-tools for arm64 (%v): scripts/vlab up 1 --arm 1 builds it", err)
	}
	f, err := os.Open(tool)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	testKexec(t, m, initramfs.File{Path: initramfs.KexecPath, Size: fi.Size(), Data: f})
}

// TestQEMUKexecArm64Refused: without kexec-tools in the agent's archive, on
// a kernel without kexec_file_load the agent must refuse the kexec cleanly — a remote error that says
// why, the next boot's files untouched, and the node still serving, so the
// controller can power-cycle it instead of waiting for a kernel that never
// calls back.
func TestQEMUKexecArm64Refused(t *testing.T) {
	m := armMachine(t)
	dir := t.TempDir()
	initrd := m.agentInitrd(t, dir)
	ctl := newFakeCtl(t, imageTar(t, m.busybox))
	b1 := ctl.addBoot(t, "kexec-token-boot1", 21, "varm1")
	ctl.addFile("/a/artifact-token-k/vmlinuz", []byte("kernel"))
	ctl.addFile("/a/artifact-token-i/initrd.img", []byte("initrd"))

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	v := m.start(t, ctx, dir, initrd, bootCmdline(m, ctl.port, b1.token))
	c := v.dial(t, ctx, v.waitReady(t, ctx, ctl, b1.token), b1)
	err := c.Kexec(ctx, proto.KexecRequest{JobID: 22, Boot: 2,
		KernelURL: "/a/artifact-token-k/vmlinuz", KernelSize: 6, KernelDigest: digest([]byte("kernel")),
		InitrdURL: "/a/artifact-token-i/initrd.img", InitrdSize: 6, InitrdDigest: digest([]byte("initrd")),
		Cmdline: "console=ttyAMA0", Token: "kexec-token-boot2"})
	var re *agent.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "CONFIG_KEXEC_FILE") {
		t.Fatalf("Kexec on Debian's arm64 kernel = %v, want a refusal naming CONFIG_KEXEC_FILE", err)
	}
	t.Logf("refused: %s", re.Msg)
	var out bytes.Buffer
	if code, err := c.Run(ctx, proto.RunRequest{JobID: 21, Shell: true, Argv: []string{"echo still here"}}, &out, &out); err != nil || code != 0 || out.String() != "still here\n" {
		t.Fatalf("after the refusal: %d, %v, %q", code, err, out.String())
	}
	v.powerOff(t, ctx, c)
}

// testKexec boots the lab machine, runs job 1, then has the agent kexec
// into the same kernel with another command line and the next boot's
// token; the new kernel's agent must call back with that token, and its
// /proc/cmdline must carry the marker (and not the token).
func testKexec(t *testing.T, m labMachine, extra ...initramfs.File) {
	dir := t.TempDir()
	initrd := m.agentInitrd(t, dir, extra...)
	ctl := newFakeCtl(t, imageTar(t, m.busybox))
	name := map[string]string{"amd64": "vnode1", "arm64": "varm1"}[m.goarch]
	b1 := ctl.addBoot(t, "kexec-token-boot1", 21, name)
	b2 := ctl.addBoot(t, "kexec-token-boot2", 22, name)
	kernel, err := os.ReadFile(m.kernel)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := os.ReadFile(initrd)
	if err != nil {
		t.Fatal(err)
	}
	// The controller's single-use artifact URLs carry their token in the path.
	ctl.addFile("/a/artifact-token-k/vmlinuz", kernel)
	ctl.addFile("/a/artifact-token-i/initrd.img", rd)

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	v := m.start(t, ctx, dir, initrd, bootCmdline(m, ctl.port, b1.token))
	ready1 := v.waitReady(t, ctx, ctl, b1.token)
	c1 := v.dial(t, ctx, ready1, b1)
	var out bytes.Buffer
	if code, err := c1.Run(ctx, proto.RunRequest{JobID: 21, Shell: true, Argv: []string{"cat /proc/cmdline"}}, &out, &out); err != nil || code != 0 {
		t.Fatalf("job 1: %d, %v: %s", code, err, out.String())
	}
	const marker = "bmc.test=kexec-second-kernel"
	if strings.Contains(out.String(), marker) || strings.Contains(out.String(), b1.token) {
		t.Fatalf("job 1's /proc/cmdline: %q", out.String())
	}

	second := strings.Replace(bootCmdline(m, ctl.port, "X", marker), " "+proto.ParamToken+"=X", "", 1)
	start := time.Now()
	err = c1.Kexec(ctx, proto.KexecRequest{JobID: 22, Boot: 2,
		KernelURL: "/a/artifact-token-k/vmlinuz", KernelSize: int64(len(kernel)), KernelDigest: digest(kernel),
		InitrdURL: "/a/artifact-token-i/initrd.img", InitrdSize: int64(len(rd)), InitrdDigest: digest(rd),
		Cmdline: second, Token: b2.token})
	if err != nil {
		t.Fatalf("Kexec: %v", err)
	}
	// A kernel that dies after the jump says nothing on the agent's side:
	// give it two minutes, not the whole test's budget.
	jctx, jcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer jcancel()
	ready2 := v.waitReady(t, jctx, ctl, b2.token)
	t.Logf("kexec answered → the new kernel's agent ready with the next token: %v (guest uptime %.2f s)", time.Since(start), ready2.Uptime)
	if ready2.HostKey == ready1.HostKey {
		t.Error("the new boot kept the old host key")
	}
	c2 := v.dial(t, ctx, ready2, b2)
	out.Reset()
	if code, err := c2.Run(ctx, proto.RunRequest{JobID: 22, Shell: true, Argv: []string{"cat /proc/cmdline"}}, &out, &out); err != nil || code != 0 {
		t.Fatalf("job 2: %d, %v: %s", code, err, out.String())
	}
	if !strings.Contains(out.String(), marker) || strings.Contains(out.String(), b2.token) {
		t.Fatalf("after kexec /proc/cmdline is %q: want the marker, not the token", out.String())
	}
	v.powerOff(t, ctx, c2)
}
