//go:build vlab

package pid1_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/agent/proto"
)

// TestQEMUBoot boots the lab's kernel with its initrd plus an appended
// bmcinit archive, exactly as bmcctld does, and drives the agent: config,
// rootfs, Ready, a command in the image, re-attach, power-off.
func TestQEMUBoot(t *testing.T) {
	m := x86Machine(t)
	dir := t.TempDir()
	initrd := m.agentInitrd(t, dir)
	ctl := newFakeCtl(t, imageTar(t, m.busybox))
	b := ctl.addBoot(t, "qemu-test-token", 5, "vnode1")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	v := m.start(t, ctx, dir, initrd, bootCmdline(m, ctl.port, b.token))
	c := v.dial(t, ctx, v.waitReady(t, ctx, ctl, b.token), b)

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
	v.powerOff(t, ctx, c)
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if got := strings.Join(ctl.phases, ","); got != strings.ReplaceAll("T:network,T:rootfs,T:sshd", "T", b.token) {
		t.Errorf("phases = %s", got)
	}
	if ctl.beats[b.token] == 0 {
		t.Error("no heartbeat")
	}
}
