// Package e2e drives the real bmcctld, bmcsubmit and bmcq binaries, the way
// users and admins do, against simulated machines (and, with -tags vlab, the
// virtual lab).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
)

var binDir string

func TestMain(m *testing.M) {
	if spec := os.Getenv(floodEnv); spec != "" {
		os.Exit(flood(spec))
	}
	dir, err := os.MkdirTemp("", "bmc-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", dir+"/", "./cmd/bmcctld", "./cmd/bmcsubmit", "./cmd/bmcq", "./cmd/bmcinit")
	cmd.Dir = ".."
	// Static, like a release: bmcinit runs as PID 1 in an initrd without libc.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	// Other test uids run the user commands too.
	os.Chmod(dir, 0o755)
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func bin(name string) string { return filepath.Join(binDir, name) }

// daemon is one running bmcctld.
type daemon struct {
	t      *testing.T
	dir    string
	sock   string
	args   []string
	cmd    *exec.Cmd
	exited chan error
	log    *syncBuffer
}

// syncBuffer is the daemon's log, written by a reader goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) WriteString(x string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(x)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemon runs bmcctld with its state in dir and returns once it
// logged that it serves.
func startDaemon(t *testing.T, dir string, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, dir: dir, sock: filepath.Join(dir, "bmcctld.sock"), args: args}
	d.start()
	t.Cleanup(d.stop)
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	args := append([]string{"--state-dir", d.dir, "--sched-interval", "500ms"}, d.args...)
	d.cmd = exec.Command(bin("bmcctld"), args...)
	pr, pw := io.Pipe()
	d.cmd.Stderr = pw
	if d.log == nil {
		d.log = &syncBuffer{}
	}
	logBuf := d.log
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.exited = make(chan error, 1)
	go func() { err := d.cmd.Wait(); pw.Close(); d.exited <- err }()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := false
		for sc.Scan() {
			line := sc.Text()
			logBuf.WriteString(line + "\n")
			if !once && strings.Contains(line, "bmcctld started") {
				once = true
				close(ready)
			}
		}
		if !once {
			close(ready)
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		d.t.Fatalf("bmcctld did not start; log:\n%s", d.log)
	}
	if d.cmd.ProcessState != nil {
		d.t.Fatalf("bmcctld exited at start; log:\n%s", d.log)
	}
}

// kill9 kills the daemon the hard way, as a crash or the OOM killer would.
func (d *daemon) kill9() {
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

func (d *daemon) stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		// A goroutine dump says where it hangs.
		d.cmd.Process.Signal(syscall.SIGQUIT)
		<-d.exited
		d.t.Errorf("bmcctld ignored SIGTERM for 20s; log:\n%s", tail(d.log.String(), 400))
	}
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs one of the user commands as uid (0 = as this process).
func (d *daemon) run(uid uint32, dir, name string, args ...string) result {
	d.t.Helper()
	cmd := exec.Command(bin(name), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BMC_SOCKET="+d.sock)
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	}
	return runCmd(d.t, cmd)
}

// runCmd runs cmd to its end: what it printed and its exit status.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", filepath.Base(cmd.Path), err)
	}
	return r
}

func (d *daemon) jobs(all bool) []api.JobInfo {
	d.t.Helper()
	args := []string{"--json"}
	if all {
		args = append(args, "--all")
	}
	r := d.run(0, d.dir, "bmcq", args...)
	if r.code != 0 {
		d.t.Fatalf("bmcq --json: %s", r.stderr)
	}
	var l api.JobList
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		d.t.Fatalf("bmcq --json: %v\n%s", err, r.stdout)
	}
	return l.Jobs
}

// waitAll polls the daemon over its API until every job ended.
func (d *daemon) waitAll(ctx context.Context, want int) []api.JobInfo {
	d.t.Helper()
	c := api.NewClient(d.sock)
	for {
		l, err := c.Jobs(ctx, api.JobFilter{All: true})
		if err != nil {
			d.t.Fatal(err)
		}
		done := 0
		for _, j := range l.Jobs {
			if j.State.Final() {
				done++
			}
		}
		if done >= want && len(l.Jobs) == want {
			return l.Jobs
		}
		// Block on the first unfinished job's next change instead of sleeping.
		for _, j := range l.Jobs {
			if !j.State.Final() {
				if _, err := c.WaitChange(ctx, j.ID, string(j.State)); err != nil {
					d.t.Fatalf("waiting for job %d: %v\nlog tail:\n%s", j.ID, err, tail(d.log.String(), 20))
				}
				break
			}
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// workDir is a directory every test uid may write job files and output to.
func workDir(t *testing.T) string {
	d := t.TempDir()
	os.Chmod(filepath.Dir(d), 0o755)
	os.Chmod(d, 0o777)
	return d
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fastSimNodes writes a nodes file of n simulated machines that boot in
// 200 ms, so a thousand jobs pass through in about a minute.
func fastSimNodes(t *testing.T, dir string, n int) string {
	var b strings.Builder
	b.WriteString("[defaults]\ncores = 8\nmemory = \"16G\"\narch = \"x86_64\"\nexpected_boot = \"200ms\"\nbmc = { protocol = \"sim\", sim_idle_watts = 50, sim_peak_watts = 200 }\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "\n[[node]]\nname = \"fast%02d\"\n", i)
	}
	p := filepath.Join(dir, "nodes.toml")
	write(t, p, b.String())
	return p
}

// wolNodes writes a nodes file of one real (Wake-on-LAN, loopback) machine,
// which gives bmcctld a node listener without a lab.
func wolNodes(t *testing.T, dir, mac, address string) string {
	p := filepath.Join(dir, "nodes.toml")
	write(t, p, fmt.Sprintf(`[[node]]
name = "real1"
arch = "x86_64"
cores = 2
memory = "1G"
mac = "%s"
address = "%s"
bmc = { protocol = "wol", address = "127.0.0.1", port = 9 }
`, mac, address))
	return p
}
