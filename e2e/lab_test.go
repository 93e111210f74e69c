//go:build vlab

package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// lab is one virtual lab brought up by scripts/vlab for a test.
type lab struct {
	t   *testing.T
	dir string
	d   *daemon // user commands run against the lab's bmcctld
}

// labUp starts scripts/vlab with n nodes; ports are shifted by off so two
// labs can run side by side. It fails (never skips) when the lab cannot come up.
func labUp(t *testing.T, n, off int, extra ...string) *lab {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	args := append([]string{"up", strconv.Itoa(n), "--dir", dir,
		"--port-base", strconv.Itoa(19001 + off), "--node-port", strconv.Itoa(18150 + off),
		"--ssh-base", strconv.Itoa(12222 + off), "--metrics-port", strconv.Itoa(18151 + off)}, extra...)
	cmd := exec.Command("../scripts/vlab", args...)
	cmd.Env = append(os.Environ(), "BMCCTLD="+bin("bmcctld"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("vlab up: %v\n%s", err, out.String())
	}
	l := &lab{t: t, dir: dir, d: &daemon{t: t, dir: dir, sock: filepath.Join(dir, "bmcctld.sock"), log: &syncBuffer{}}}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "bmcctld.log"))
			t.Logf("bmcctld.log tail:\n%s", tail(string(b), 60))
		}
		down := exec.Command("../scripts/vlab", "down", "--dir", dir)
		if out, err := down.CombinedOutput(); err != nil {
			t.Errorf("vlab down: %v\n%s", err, out)
		}
	})
	return l
}

func (l *lab) client() *api.Client { return api.NewClient(l.d.sock) }

// waitFor follows job id until cond holds, failing on a final state that is not wanted.
func (l *lab) waitFor(ctx context.Context, id string, cond func(api.JobDetail) bool) api.JobDetail {
	l.t.Helper()
	c := l.client()
	for {
		d, err := c.Job(ctx, id)
		if err != nil {
			l.t.Fatalf("job %s: %v", id, err)
		}
		if cond(d) {
			return d
		}
		if d.State.Final() {
			l.t.Fatalf("job %s ended %s (%s) before the awaited condition", id, d.State, d.Detail)
		}
		if _, err := c.WaitChange(ctx, d.ID, string(d.State)); err != nil {
			l.t.Fatalf("job %s: %v", id, err)
		}
	}
}

func state(s job.State) func(api.JobDetail) bool {
	return func(d api.JobDetail) bool { return d.State == s }
}

func (l *lab) submit(dir, content string, flags ...string) string {
	l.t.Helper()
	write(l.t, filepath.Join(dir, "job.toml"), content)
	r := l.d.run(0, dir, "bmcsubmit", append(append([]string{"--parsable"}, flags...), "job.toml")...)
	if r.code != 0 {
		l.t.Fatalf("bmcsubmit: %s", r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

func (l *lab) powerState(node int) string {
	l.t.Helper()
	out, err := exec.Command("../scripts/vlab", "status", "--dir", l.dir).CombinedOutput()
	if err != nil {
		l.t.Fatalf("vlab status: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, fmt.Sprintf("vnode%d ", node)) {
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "power="); ok {
					return v
				}
			}
		}
	}
	l.t.Fatalf("vlab status says nothing of vnode%d:\n%s", node, out)
	return ""
}

func (l *lab) job(id, image string, body string) string {
	return fmt.Sprintf("name = %q\nimage = \"oci:%s/images/busybox\"\ntime_limit = \"10:00\"\n%s\n", id, l.dir, body)
}

func TestLabJobs(t *testing.T) {
	l := labUp(t, 2, 0)
	work := workDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var token string

	t.Run("own cmdline and image", func(t *testing.T) {
		id := l.submit(work, l.job("hello", "", `cmdline = "quiet bmc_lab_test=42"
command = "cat /proc/cmdline; cat /etc/os-release"`))
		d := l.waitFor(ctx, id, state(job.Completed))
		out, err := os.ReadFile(d.Output)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "bmc_lab_test=42") || !strings.Contains(string(out), `NAME="bmc lab busybox"`) {
			t.Errorf("output shows neither the job's cmdline nor its image:\n%s", out)
		}
		if strings.Contains(string(out), "bmc.token=") {
			t.Errorf("the job saw its boot's agent token in /proc/cmdline:\n%s", out)
		}
		// The token the node booted with, from the lab's serial console.
		serial, _ := os.ReadFile(filepath.Join(l.dir, strings.Replace(d.Node, "vnode", "node", 1), "serial.log"))
		for _, f := range strings.Fields(string(serial)) {
			if v, ok := strings.CutPrefix(f, "bmc.token="); ok {
				token = v
			}
		}
	})

	t.Run("an image without the pinned arch is refused at submit", func(t *testing.T) {
		write(t, filepath.Join(work, "arm.toml"), l.job("arm", "", "arch = \"aarch64\"\ncommand = \"uname -m\""))
		r := l.d.run(0, work, "bmcsubmit", "arm.toml")
		if r.code != 1 || !strings.Contains(r.stderr, "has no variant for aarch64 (it offers x86_64)") {
			t.Errorf("aarch64 job with the amd64-only image: exit %d, %q", r.code, r.stderr)
		}
	})

	t.Run("exit code propagates", func(t *testing.T) {
		write(t, filepath.Join(work, "exit.toml"), l.job("exit", "", `command = "echo about to fail; exit 42"`))
		r := l.d.run(0, work, "bmcsubmit", "--wait", "exit.toml")
		if r.code != 42 {
			t.Errorf("bmcsubmit --wait of exit 42: exit %d, %s", r.code, r.stderr)
		}
	})

	t.Run("cancel while booting powers the node off", func(t *testing.T) {
		id := l.submit(work, l.job("cancel", "", `command = "sleep 300"`))
		d := l.waitFor(ctx, id, state(job.Booting))
		if r := l.d.run(0, work, "bmcq", "cancel", id); r.code != 0 {
			t.Fatalf("cancel: %s", r.stderr)
		}
		d = l.waitFor(ctx, id, state(job.Cancelled))
		n, _ := strconv.Atoi(strings.TrimPrefix(d.Node, "vnode"))
		if p := l.powerState(n); p != "off" {
			t.Errorf("%s is %s after its booting job was cancelled", d.Node, p)
		}
	})

	t.Run("node refuses other SSH keys", func(t *testing.T) {
		id := l.submit(work, l.job("sshkey", "", `command = "sleep 120"`))
		d := l.waitFor(ctx, id, state(job.Running))
		n, _ := strconv.Atoi(strings.TrimPrefix(d.Node, "vnode"))
		addr := l.nodeSSH(n)
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		signer, _ := ssh.NewSignerFromKey(priv)
		conn, err := l.dial(ctx, addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _, _, err = ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
			User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), // the test is the attacker here
			Timeout:         10 * time.Second,
		})
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Errorf("ssh with a foreign key: %v, want an authentication failure", err)
		}
		l.d.run(0, work, "bmcq", "cancel", id)
		l.waitFor(ctx, id, state(job.Cancelled))
	})

	t.Run("kill -9 of bmcctld while a job runs", func(t *testing.T) {
		id := l.submit(work, l.job("survivor", "", `command = "echo start; sleep 15; echo done"`))
		l.waitFor(ctx, id, state(job.Running))
		l.restartDaemonT(t, ctx)
		var d api.JobDetail
		d = l.waitFor(ctx, id, func(d api.JobDetail) bool { return d.State.Final() || d.State == job.Pending })
		runs := 0
		for _, e := range d.Events {
			if e.State == job.Running {
				runs++
			}
		}
		if d.State == job.Completed {
			out, _ := os.ReadFile(d.Output)
			if runs != 1 || strings.Count(string(out), "start") != 1 || strings.Count(string(out), "done") != 1 {
				t.Errorf("after the restart: %d RUNNING events, output %q; want one run, whole", runs, out)
			}
		} else if d.State != job.Pending {
			t.Errorf("job ended %s (%s) after the restart; want COMPLETED or requeued", d.State, d.Detail)
		}
	})

	t.Run("no secret in any log line", func(t *testing.T) {
		secrets := []string{}
		for n := 1; n <= 2; n++ {
			pw, _ := os.ReadFile(filepath.Join(l.dir, fmt.Sprintf("node%d/bmc.pass", n)))
			secrets = append(secrets, strings.TrimSpace(string(pw)))
		}
		if token != "" {
			secrets = append(secrets, token)
		}
		for _, f := range []string{"bmcctld.log", "bmcctld.out"} {
			b, _ := os.ReadFile(filepath.Join(l.dir, f))
			for _, s := range secrets {
				if s != "" && bytes.Contains(b, []byte(s)) {
					t.Errorf("%s contains a secret (%.4s…)", f, s)
				}
			}
		}
	})
}

func TestLabWrongBMCPassword(t *testing.T) {
	l := labUp(t, 2, 100, "--bad-password", "1")
	work := workDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id := l.submit(work, l.job("elsewhere", "", `command = "hostname; echo ran"`))
	d := l.waitFor(ctx, id, state(job.Completed))
	if d.Node != "vnode2" {
		t.Errorf("ran on %s, want vnode2 (vnode1's BMC rejects the password)", d.Node)
	}
	nodes, err := l.client().Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Nodes {
		if n.Name == "vnode1" && (n.State != "DOWN" || !strings.Contains(n.Reason, "credentials")) {
			t.Errorf("vnode1 is %s (%q), want DOWN with a reason about the credentials", n.State, n.Reason)
		}
	}
	n := l.nodeDetail(ctx, "vnode1")
	if acts := actions(n.Events); len(acts) == 0 || acts[0] != "node_down" || !strings.Contains(n.Events[0].Detail, "credentials") {
		t.Errorf("vnode1 events %v: want the reconciler's node_down saying why", n.Events)
	}
	// --idle-off breakeven (the default) keeps vnode2 on after the job
	// until no waiting job fits it: nothing waits, so the reconciler
	// switches it off at its next pass.
	n = l.untilNode(ctx, "vnode2", "switched off after its job", func(n api.NodeDetail) bool { return n.State == "IDLE" })
	if acts := actions(n.Events); !slices.Contains(acts, "idle_on") || !slices.Contains(acts, "idle_off") {
		t.Errorf("vnode2 events %v: want idle_on then idle_off", acts)
	}
	for i := 1; i <= 2; i++ {
		if p := l.powerState(i); p != "off" {
			t.Errorf("vnode%d is %s at the end; want off", i, p)
		}
	}
	pw, _ := os.ReadFile(filepath.Join(l.dir, "node1/bmc.pass"))
	if b, _ := os.ReadFile(filepath.Join(l.dir, "bmcctld.log")); bytes.Contains(b, bytes.TrimSpace(pw)) {
		t.Error("bmcctld.log contains vnode1's password")
	}
}

// TestLabHungNode: a machine that stops answering while its job runs (its
// QEMU process frozen) makes the job NODE_FAIL, and the machine is powered
// off. Its agent's heartbeats stop, so the reconciler acts after
// --agent-timeout (20 s), well before the SSH keepalive (15 s, then 30 s
// unanswered) and reconnect window (45 s) would.
func TestLabHungNode(t *testing.T) {
	l := labUp(t, 1, 400)
	work := workDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	l.restartDaemonT(t, ctx, reconcilerFlags...)
	id := l.submit(work, l.job("hang", "", `command = "echo up; sleep 600"`))
	l.waitFor(ctx, id, state(job.Running))
	defer l.freeze("node1/qemu.pid")()
	d := l.waitFor(ctx, id, func(d api.JobDetail) bool { return d.State.Final() || d.State == job.NodeFail })
	if d.State != job.NodeFail {
		t.Errorf("job of a frozen node ended %s (%s), want NODE_FAIL", d.State, d.Detail)
	}
	if p := l.powerState(1); p != "off" {
		t.Errorf("the frozen node is %s after its job failed; want off", p)
	}
	if off := d.Events[len(d.Events)-2]; off.State != job.PoweringOff || off.Cause != job.CauseReconciler ||
		!strings.Contains(off.Detail, "node agent silent") {
		t.Errorf("the change that stopped the job: %+v, want the reconciler's, saying the agent is silent", off)
	}
	n := l.nodeDetail(ctx, "vnode1")
	if !slices.Contains(actions(n.Events), "agent_lost") || n.State != "IDLE" {
		t.Errorf("vnode1 %s, events %v: want IDLE and agent_lost recorded", n.State, actions(n.Events))
	}
}
