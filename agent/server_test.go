package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bmc-sched/bmc/agent/proto"
)

type testNode struct {
	addr     string
	hostKey  ssh.PublicKey
	jobKey   ssh.Signer
	dir      string // the runner's working directory
	outDir   string
	powerOff chan struct{}
	srv      *Server
}

func newSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startNode(t *testing.T) *testNode {
	t.Helper()
	return startNodeWith(t, func(*ServerOptions) {})
}

// startNodeWith starts a node whose options edit may change.
func startNodeWith(t *testing.T, edit func(*ServerOptions)) *testNode {
	t.Helper()
	jobKey, pemBytes, authorized, err := NewJobKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseJobKey(pemBytes); err != nil {
		t.Fatal(err)
	}
	host := newSigner(t)
	n := &testNode{hostKey: host.PublicKey(), jobKey: jobKey, dir: t.TempDir(), outDir: t.TempDir(), powerOff: make(chan struct{}, 1)}
	opts := ServerOptions{
		HostKey:       host,
		AuthorizedKey: authorized,
		Runner:        ExecRunner{Root: n.dir},
		OutputDir:     n.outDir,
		PowerOff:      func() { n.powerOff <- struct{}{} },
	}
	edit(&opts)
	n.srv, err = NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve: %v", err)
		}
	})
	return n
}

func (n *testNode) dial(t *testing.T) *Client {
	t.Helper()
	c, err := Dial(context.Background(), n.addr, n.hostKey, n.jobKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// syncBuffer is a bytes.Buffer safe for the client's copy goroutines; it
// signals when its content first contains want.
type syncBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
}

func newSyncBuffer(want string) *syncBuffer {
	return &syncBuffer{want: want, seen: make(chan struct{})}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.want != "" && strings.Contains(b.buf.String(), b.want) {
		b.want = ""
		close(b.seen)
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunStreamsOutputAndExitCode(t *testing.T) {
	n := startNode(t)
	c := n.dial(t)
	var out, errb bytes.Buffer
	code, err := c.Run(context.Background(), proto.RunRequest{
		JobID: 7, Shell: true,
		Argv: []string{`echo "out $GREETING $1 $(pwd)"; echo err >&2; exit 3`, "arg1"},
		Env:  map[string]string{"GREETING": "hello"},
	}, &out, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 {
		t.Errorf("exit code = %d, want 3", code)
	}
	if want := "out hello arg1 " + n.dir + "\n"; out.String() != want {
		t.Errorf("stdout = %q, want %q", out.String(), want)
	}
	if errb.String() != "err\n" {
		t.Errorf("stderr = %q", errb.String())
	}
	// The node keeps the output in files for later attaches.
	if b, _ := os.ReadFile(filepath.Join(n.outDir, "7.err")); string(b) != "err\n" {
		t.Errorf("7.err = %q", b)
	}
	if running, ec := n.srv.Status(); running || ec == nil || *ec != 3 {
		t.Errorf("Status = %v, %v; want ended with 3", running, ec)
	}
}

func TestRunArgvWithoutShell(t *testing.T) {
	n := startNode(t)
	c := n.dial(t)
	var out bytes.Buffer
	code, err := c.Run(context.Background(), proto.RunRequest{JobID: 1, Argv: []string{"printf", "%s|", "a b", "c"}}, &out, &out)
	if err != nil || code != 0 || out.String() != "a b|c|" {
		t.Fatalf("Run = %d, %v, out %q", code, err, out.String())
	}
}

func TestRunKilledBySignalReports128PlusN(t *testing.T) {
	n := startNode(t)
	c := n.dial(t)
	code, err := c.Run(context.Background(), proto.RunRequest{JobID: 1, Shell: true, Argv: []string{"kill -TERM $$"}}, &bytes.Buffer{}, &bytes.Buffer{})
	if err != nil || code != 128+int(syscall.SIGTERM) {
		t.Fatalf("Run = %d, %v; want %d", code, err, 128+int(syscall.SIGTERM))
	}
}

func TestRunStartFailureIsRemoteError(t *testing.T) {
	n := startNode(t)
	c := n.dial(t)
	req := proto.RunRequest{JobID: 9, Argv: []string{"no-such-program-bmc"}}
	for i := range 2 { // the second run attaches to the failed first one
		_, err := c.Run(context.Background(), req, &bytes.Buffer{}, &bytes.Buffer{})
		var re *RemoteError
		if !errors.As(err, &re) || !errors.Is(err, ErrRemote) || !errors.Is(err, exec.ErrNotFound) || errors.Is(err, ErrNoJob) {
			t.Fatalf("run %d: err = %v, want RemoteError(not found)", i, err)
		}
	}
	_, err := c.Run(context.Background(), proto.RunRequest{JobID: 10, Argv: []string{"true"}}, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, ErrRemote) || !errors.Is(err, ErrOtherJob) {
		t.Fatalf("other job: err = %v", err)
	}
	_, err = c.Run(context.Background(), proto.RunRequest{JobID: 9, User: "nobody", Argv: []string{"true"}}, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, ErrRemote) {
		t.Fatalf("rerun: err = %v", err)
	}
}

func TestRunRefusesAnotherJobThanTheBoots(t *testing.T) {
	_, _, authorized, err := NewJobKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(ServerOptions{HostKey: newSigner(t), AuthorizedKey: authorized, Runner: ExecRunner{Root: t.TempDir()}, OutputDir: t.TempDir(), JobID: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.jobs.start(proto.RunRequest{JobID: 6, Argv: []string{"true"}}); !errors.Is(err, ErrOtherJob) {
		t.Fatalf("job 6 on a node booted for 5: %v, want ErrOtherJob", err)
	}
	j, err := s.jobs.start(proto.RunRequest{JobID: 5, Argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := s.jobs.wait(context.Background(), j); err != nil || code != 0 {
		t.Fatalf("job 5 = %d, %v", code, err)
	}
}

func TestAttachWithoutJob(t *testing.T) {
	n := startNode(t)
	c := n.dial(t)
	_, err := c.Attach(context.Background(), 0, 0, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, ErrRemote) || !errors.Is(err, ErrNoJob) {
		t.Fatalf("err = %v, want ErrRemote and ErrNoJob", err)
	}
}

func TestOtherKeysRefused(t *testing.T) {
	n := startNode(t)
	if _, err := Dial(context.Background(), n.addr, n.hostKey, newSigner(t)); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("Dial with a stranger's key: %v, want an authentication error", err)
	}
	for name, auth := range map[string]ssh.AuthMethod{
		"password": ssh.Password("root"),
		"keyboard-interactive": ssh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) {
			return nil, nil
		}),
	} {
		cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{auth}, HostKeyCallback: ssh.FixedHostKey(n.hostKey)}
		if _, err := ssh.Dial("tcp", n.addr, cfg); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Errorf("%s: %v, want an authentication error", name, err)
		}
	}
}

func TestWrongHostKeyFailsDial(t *testing.T) {
	n := startNode(t)
	_, err := Dial(context.Background(), n.addr, newSigner(t).PublicKey(), n.jobKey)
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("Dial with the wrong pinned host key: %v, want host key mismatch", err)
	}
	if _, err := Dial(context.Background(), n.addr, nil, n.jobKey); err == nil {
		t.Fatal("Dial without a pinned host key succeeded")
	}
}

func TestShellPtyAndForwardingRefused(t *testing.T) {
	n := startNode(t)
	cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(n.jobKey)}, HostKeyCallback: ssh.FixedHostKey(n.hostKey)}
	cl, err := ssh.Dial("tcp", n.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	try := func(name string, f func(s *ssh.Session) error) {
		t.Helper()
		s, err := cl.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := f(s); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	try("pty", func(s *ssh.Session) error { return s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}) })
	try("shell", func(s *ssh.Session) error { return s.Shell() })
	try("exec of a shell command", func(s *ssh.Session) error { return s.Start("id") })
	try("subsystem", func(s *ssh.Session) error { return s.RequestSubsystem("sftp") })
	try("attach with bad offsets", func(s *ssh.Session) error { return s.Start(proto.ExecAttach + " -1 0") })
	try("run with arguments", func(s *ssh.Session) error { return s.Start(proto.ExecRun + " x") })
	if c, err := cl.Dial("tcp", n.addr); err == nil {
		c.Close()
		t.Error("direct-tcpip accepted")
	}
	if _, err := cl.Listen("tcp", "127.0.0.1:0"); err == nil {
		t.Error("tcpip-forward accepted")
	}
}

// The command survives its connection: run, cut the connection midway,
// attach with the offsets reached and get the rest and the exit code; the
// command ran once.
func TestReattachAfterConnectionLoss(t *testing.T) {
	n := startNode(t)
	fifo := filepath.Join(n.dir, "gate")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	req := proto.RunRequest{JobID: 42, Shell: true, Argv: []string{
		`echo ran >> count; echo before; echo e1 >&2; read x < gate; echo after; echo e2 >&2; exit 7`,
	}}
	c1 := n.dial(t)
	out1, err1 := newSyncBuffer("before\n"), newSyncBuffer("e1\n")
	runErr := make(chan error, 1)
	go func() {
		_, err := c1.Run(context.Background(), req, out1, err1)
		runErr <- err
	}()
	<-out1.seen
	<-err1.seen
	c1.Close()
	err := <-runErr
	var se *StreamError
	if !errors.Is(err, ErrConnLost) || !errors.As(err, &se) {
		t.Fatalf("Run after Close: %v, want ErrConnLost with offsets", err)
	}
	if se.Stdout != int64(len("before\n")) || se.Stderr != int64(len("e1\n")) {
		t.Fatalf("offsets = %d/%d", se.Stdout, se.Stderr)
	}
	if running, _ := n.srv.Status(); !running {
		t.Fatal("command stopped with its connection")
	}

	// Let the command finish while nobody is connected.
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("go\n")
	f.Close()

	c2 := n.dial(t)
	var out2, err2 bytes.Buffer
	code, err := c2.Attach(context.Background(), se.Stdout, se.Stderr, &out2, &err2)
	if err != nil || code != 7 {
		t.Fatalf("Attach = %d, %v; want 7", code, err)
	}
	if out2.String() != "after\n" || err2.String() != "e2\n" {
		t.Errorf("attach output = %q / %q", out2.String(), err2.String())
	}

	// Run again with the same job: replays everything, does not run again.
	var out3, err3 bytes.Buffer
	code, err = c2.Run(context.Background(), req, &out3, &err3)
	if err != nil || code != 7 || out3.String() != "before\nafter\n" || err3.String() != "e1\ne2\n" {
		t.Fatalf("second Run = %d, %v, %q, %q", code, err, out3.String(), err3.String())
	}
	b, err := os.ReadFile(filepath.Join(n.dir, "count"))
	if err != nil || string(b) != "ran\n" {
		t.Fatalf("count = %q, %v: the command must run exactly once", b, err)
	}

	if _, err := c2.Attach(context.Background(), 1000, 0, &out3, &err3); !errors.Is(err, ErrBadOffset) {
		t.Fatalf("attach beyond the output: %v, want ErrRemote", err)
	}
}

func TestRunCancelledByContext(t *testing.T) {
	n := startNode(t)
	fifo := filepath.Join(n.dir, "gate")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	c := n.dial(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := newSyncBuffer("started\n")
	res := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, proto.RunRequest{JobID: 1, Shell: true, Argv: []string{"echo started; read x < gate; echo done"}}, out, &bytes.Buffer{})
		res <- err
	}()
	<-out.seen
	cancel()
	err := <-res
	var se *StreamError
	if !errors.Is(err, context.Canceled) || !errors.As(err, &se) || se.Stdout != int64(len("started\n")) {
		t.Fatalf("Run after cancel: %v, want context.Canceled with the offset reached", err)
	}
	// The connection is still usable and the command still there.
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("x\n")
	f.Close()
	var rest bytes.Buffer
	code, err := c.Attach(context.Background(), se.Stdout, se.Stderr, &rest, &bytes.Buffer{})
	if err != nil || code != 0 || rest.String() != "done\n" {
		t.Fatalf("Attach = %d, %v, %q", code, err, rest.String())
	}
}

func TestPowerOff(t *testing.T) {
	n := startNode(t)
	c := n.dial(t)
	if err := c.PowerOff(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-n.powerOff
}

func TestParseAttach(t *testing.T) {
	tests := []struct {
		in       string
		out, err int64
		ok       bool
	}{
		{"bmc-attach 0 0", 0, 0, true},
		{"bmc-attach 123 45", 123, 45, true},
		{"bmc-attach  9\t8 ", 9, 8, true},
		{"bmc-attach -1 0", 0, 0, false},
		{"bmc-attach 1", 0, 0, false},
		{"bmc-attach 1 2 3", 0, 0, false},
		{"bmc-run 1 2", 0, 0, false},
		{"bmc-attach x 2", 0, 0, false},
		{"bmc-attach 99999999999999999999 0", 0, 0, false},
	}
	for _, tt := range tests {
		o, e, err := ParseAttach(tt.in)
		if tt.ok != (err == nil) || o != tt.out || e != tt.err {
			t.Errorf("ParseAttach(%q) = %d, %d, %v", tt.in, o, e, err)
		}
	}
}

func FuzzParseAttach(f *testing.F) {
	f.Add("bmc-attach 1 2")
	f.Add("bmc-attach -0 +5")
	f.Fuzz(func(t *testing.T, s string) {
		o, e, err := ParseAttach(s)
		if err == nil && (o < 0 || e < 0) {
			t.Fatalf("negative offsets accepted: %q", s)
		}
	})
}

func TestSignalReachesTheJob(t *testing.T) {
	n := startNode(t)
	c := n.dial(t)
	if err := c.Signal(context.Background(), "TERM"); !errors.Is(err, ErrRemote) {
		t.Fatalf("signal before any run: %v, want ErrRemote", err)
	}
	if err := c.Signal(context.Background(), "BOGUS"); !errors.Is(err, ErrRefused) {
		t.Fatalf("unknown signal: %v, want ErrRefused", err)
	}
	out := newSyncBuffer("ready\n")
	res := make(chan int, 1)
	go func() {
		code, err := c.Run(context.Background(), proto.RunRequest{JobID: 3, Shell: true,
			Argv: []string{`trap 'echo got TERM; exit 42' TERM; echo ready; sleep 1000 & wait $!`}}, out, &bytes.Buffer{})
		if err != nil {
			t.Error(err)
		}
		res <- code
	}()
	<-out.seen
	if err := c.Signal(context.Background(), "SIGTERM"); err != nil {
		t.Fatal(err)
	}
	if code := <-res; code != 42 || !strings.Contains(out.String(), "got TERM") {
		t.Fatalf("after TERM: code %d, stdout %q", code, out.String())
	}
	if err := c.Signal(context.Background(), "KILL"); err != nil {
		t.Fatalf("signal after the end: %v, want nil", err)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"bmc-signal TERM": syscall.SIGTERM, "bmc-signal SIGKILL": syscall.SIGKILL, "bmc-signal USR1": syscall.SIGUSR1} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"bmc-signal", "bmc-signal 9", "bmc-signal TERM KILL", "bmc-run TERM", "bmc-signal STOP"} {
		if _, err := ParseSignal(in); !errors.Is(err, ErrBadRequest) {
			t.Errorf("ParseSignal(%q) accepted", in)
		}
	}
}
