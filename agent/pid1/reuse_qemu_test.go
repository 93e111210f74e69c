//go:build vlab

package pid1_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bmc-sched/bmc/agent"
	"github.com/bmc-sched/bmc/agent/proto"
)

// job1Script leaves everything a reused machine must not hand on: a file in
// / and in /tmp, an environment variable (from the request), and a process
// that left the job's session and keeps touching a file in /dev, which is
// the machine's and survives the root. It proves its own watcher works by
// seeing the file come back, then keeps the job running.
const job1Script = `echo one >/job1-root-file; echo one >/tmp/job1-tmp-file
setsid sh -c 'while :; do echo alive >/dev/bmc-job1-leftover; sleep 0.2; done' </dev/null >/dev/null 2>&1 &
sleep 1; rm -f /dev/bmc-job1-leftover; sleep 1
[ -e /dev/bmc-job1-leftover ] && echo watcher-sees-the-loop
echo "env=$JOB1_VAR"
echo started; sleep 1000`

// job2Script reports every trace of job 1 it finds; "clean" alone means none.
const job2Script = `for f in /job1-root-file /tmp/job1-tmp-file; do [ -e $f ] && echo "left: $f"; done
[ -n "$JOB1_VAR" ] && echo "left: JOB1_VAR=$JOB1_VAR"
rm -f /dev/bmc-job1-leftover; sleep 1.5
[ -e /dev/bmc-job1-leftover ] && echo "left: job 1's background process"
echo clean`

// TestQEMUReset runs two jobs back to back on one boot of the lab's x86
// machine: job 1 leaves files, an environment variable and an escaped
// background process and is still running when the controller resets the
// machine for job 2; job 2 must find none of it, and job 1's key must be
// refused from then on.
func TestQEMUReset(t *testing.T) {
	m := x86Machine(t)
	dir := t.TempDir()
	initrd := m.agentInitrd(t, dir)
	ctl := newFakeCtl(t, imageTar(t, m.busybox))
	b1 := ctl.addBoot(t, "reset-token-job1", 11, "vnode1")
	b2 := ctl.addBoot(t, "reset-token-job2", 12, "vnode1")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	v := m.start(t, ctx, dir, initrd, bootCmdline(m, ctl.port, b1.token))
	rd := v.waitReady(t, ctx, ctl, b1.token)
	c1 := v.dial(t, ctx, rd, b1)

	out1 := &lockedBuffer{want: "started\n", seen: make(chan struct{})}
	run1 := make(chan error, 1)
	go func() {
		_, err := c1.Run(ctx, proto.RunRequest{JobID: 11, Shell: true, Env: map[string]string{"JOB1_VAR": "one"}, Argv: []string{job1Script}}, out1, out1)
		run1 <- err
	}()
	select {
	case <-out1.seen:
	case err := <-run1:
		t.Fatalf("job 1 ended early: %v\n%s", err, out1.String())
	case <-ctx.Done():
		t.Fatalf("job 1 did not start: %s", out1.String())
	}
	if got := out1.String(); got != "watcher-sees-the-loop\nenv=one\nstarted\n" {
		t.Fatalf("job 1 printed %q", got)
	}

	start := time.Now()
	if err := c1.Reset(ctx, proto.ResetRequest{JobID: 12, Boot: 2, Token: b2.token}); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	t.Logf("reset (kill job 1, new root from a 2nd download, new key) took %v", time.Since(start))

	if c, err := agent.Dial(ctx, v.sshAddr, mustHostKey(t, rd), b1.key); err == nil {
		c.Close()
		t.Fatal("job 1's key is still accepted after the reset")
	}
	c2 := v.dial(t, ctx, rd, b2)
	if _, err := c2.Run(ctx, proto.RunRequest{JobID: 11, Argv: []string{"true"}}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, agent.ErrOtherJob) {
		t.Errorf("job 1 on the reset machine: %v, want ErrOtherJob", err)
	}
	var out2 bytes.Buffer
	code, err := c2.Run(ctx, proto.RunRequest{JobID: 12, Shell: true, Argv: []string{job2Script}}, &out2, &out2)
	if err != nil || code != 0 || out2.String() != "clean\n" {
		t.Fatalf("job 2 = %d, %v, found:\n%s", code, err, out2.String())
	}
	// Job 2's heartbeats carry its own token.
	if !waitFor(ctx, func() bool { ctl.mu.Lock(); defer ctl.mu.Unlock(); return ctl.beats[b2.token] > 0 }) {
		t.Error("no heartbeat with job 2's token")
	}
	v.powerOff(t, ctx, c2)
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if !strings.Contains(strings.Join(ctl.phases, ","), b2.token+":reset") {
		t.Errorf("no reset progress with job 2's token: %v", ctl.phases)
	}
}

func mustHostKey(t *testing.T, rd proto.Ready) ssh.PublicKey {
	t.Helper()
	k, err := agent.ParseHostKey(rd.HostKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
