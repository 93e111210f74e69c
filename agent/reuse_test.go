package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bmc-sched/bmc/agent/proto"
)

// reuseNode is a test node whose reset and kexec hooks record their calls.
type reuseNode struct {
	*testNode
	nextKey   ssh.Signer
	nextAuth  string
	resets    chan proto.ResetRequest
	resetErr  error
	resetJob  uint64 // the JobID the hook's "config" names
	jumped    chan proto.KexecRequest
	kexecErr  error
	jobAlive  func() bool
	aliveSeen chan bool
}

func startReuseNode(t *testing.T) *reuseNode {
	t.Helper()
	n := &reuseNode{resets: make(chan proto.ResetRequest, 1), jumped: make(chan proto.KexecRequest, 1), aliveSeen: make(chan bool, 2)}
	var err error
	n.nextKey, _, n.nextAuth, err = NewJobKey()
	if err != nil {
		t.Fatal(err)
	}
	n.testNode = startNodeWith(t, func(o *ServerOptions) {
		o.JobID = 1
		o.Reset = func(ctx context.Context, req proto.ResetRequest) (proto.Config, error) {
			n.aliveSeen <- n.srv.jobs.current() != nil && isRunning(n.srv)
			n.resets <- req
			job := req.JobID
			if n.resetJob != 0 {
				job = n.resetJob
			}
			return proto.Config{JobID: job, AuthorizedKey: n.nextAuth}, n.resetErr
		}
		o.Kexec = func(ctx context.Context, req proto.KexecRequest) (func(), error) {
			n.aliveSeen <- isRunning(n.srv)
			if n.kexecErr != nil {
				return nil, n.kexecErr
			}
			return func() { n.jumped <- req }, nil
		}
	})
	return n
}

func isRunning(s *Server) bool {
	running, _ := s.Status()
	return running
}

// startJob runs job 1's long command on c and waits until it printed.
func startJob(t *testing.T, c *Client, id uint64) <-chan error {
	t.Helper()
	out := newSyncBuffer("up\n")
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), proto.RunRequest{JobID: id, Shell: true, Argv: []string{"echo up; sleep 1000"}}, out, &bytes.Buffer{})
		done <- err
	}()
	select {
	case <-out.seen:
	case <-time.After(20 * time.Second):
		t.Fatal("job did not start")
	}
	return done
}

func TestResetHandsTheNodeToTheNextJob(t *testing.T) {
	n := startReuseNode(t)
	c := n.dial(t)
	run1 := startJob(t, c, 1)
	ctx := context.Background()
	if err := c.Reset(ctx, proto.ResetRequest{JobID: 2, Boot: 7, Token: "tok-2"}); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if got := <-n.resets; got.JobID != 2 || got.Token != "tok-2" || got.Boot != 7 {
		t.Errorf("hook got %+v", got)
	}
	if <-n.aliveSeen {
		t.Error("job 1 still ran when the node was rebuilt")
	}
	select {
	case <-run1:
	case <-time.After(20 * time.Second):
		t.Fatal("job 1's stream did not end with the reset")
	}
	// The connection made with job 1's key is refused everything, then
	// closed; the key no longer opens a new one.
	if _, err := c.Run(ctx, proto.RunRequest{JobID: 2, Argv: []string{"true"}}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, ErrRefused) && !errors.Is(err, ErrConnLost) {
		t.Errorf("old connection after reset: %v, want ErrRefused or ErrConnLost", err)
	}
	if c2, err := Dial(ctx, n.addr, n.hostKey, n.jobKey); err == nil {
		c2.Close()
		t.Fatal("job 1's key still accepted after the reset")
	}
	c2, err := Dial(ctx, n.addr, n.hostKey, n.nextKey)
	if err != nil {
		t.Fatalf("job 2's key: %v", err)
	}
	defer c2.Close()
	if _, err := c2.Run(ctx, proto.RunRequest{JobID: 1, Argv: []string{"true"}}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, ErrOtherJob) {
		t.Errorf("job 1 after the reset: %v, want ErrOtherJob", err)
	}
	// The delayed close of the old job's connections, now: it must leave
	// the new job's connection alone.
	n.srv.closeOlder(n.srv.key.Load().epoch)
	if _, err := c.Run(ctx, proto.RunRequest{JobID: 2, Argv: []string{"true"}}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, ErrConnLost) {
		t.Errorf("old connection after the close: %v, want ErrConnLost", err)
	}
	var out bytes.Buffer
	if code, err := c2.Run(ctx, proto.RunRequest{JobID: 2, Shell: true, Argv: []string{"echo two"}}, &out, &bytes.Buffer{}); err != nil || code != 0 || out.String() != "two\n" {
		t.Fatalf("job 2: %d, %v, %q", code, err, out.String())
	}
	// Job 1's output logs are gone; job 2's are there.
	ents, err := os.ReadDir(n.outDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "2.err 2.out" {
		t.Errorf("output dir after the reset holds %v", names)
	}
}

func TestResetRefusals(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		req      proto.ResetRequest
		hookErr  error
		hookJob  uint64
		want     error
		wantText string
	}{
		{name: "no job", req: proto.ResetRequest{Token: "t"}, want: ErrBadRequest},
		{name: "no token", req: proto.ResetRequest{JobID: 2}, want: ErrBadRequest},
		{name: "token with a blank", req: proto.ResetRequest{JobID: 2, Token: "a b"}, want: ErrBadRequest},
		{name: "rootfs fails", req: proto.ResetRequest{JobID: 2, Token: "t"}, hookErr: ErrRootfsMismatch, wantText: "does not match"},
		{name: "config for another job", req: proto.ResetRequest{JobID: 2, Token: "t"}, hookJob: 3, want: ErrOtherJob},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startReuseNode(t)
			n.resetErr, n.resetJob = tc.hookErr, tc.hookJob
			c := n.dial(t)
			err := c.Reset(ctx, tc.req)
			var re *RemoteError
			if !errors.As(err, &re) || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("Reset = %v, want a remote %v %q", err, tc.want, tc.wantText)
			}
			// The old key still works: nothing was handed over.
			c2 := n.dial(t)
			if _, err := c2.Run(ctx, proto.RunRequest{JobID: 1, Argv: []string{"true"}}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
				t.Errorf("job 1 after a refused reset: %v", err)
			}
		})
	}
}

func TestKexecLoadsThenJumps(t *testing.T) {
	n := startReuseNode(t)
	c := n.dial(t)
	startJob(t, c, 1)
	req := validKexec()
	if err := c.Kexec(context.Background(), req); err != nil {
		t.Fatalf("Kexec: %v", err)
	}
	if <-n.aliveSeen {
		t.Error("the job still ran when the kernel was loaded")
	}
	select {
	case got := <-n.jumped:
		if got.KernelURL != req.KernelURL || got.Token != req.Token {
			t.Errorf("jump for %+v", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no jump after the answer")
	}
}

func TestKexecLoadFailureIsRemoteError(t *testing.T) {
	n := startReuseNode(t)
	n.kexecErr = errors.New("kexec_file_load: operation not permitted")
	c := n.dial(t)
	err := c.Kexec(context.Background(), validKexec())
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "not permitted") {
		t.Fatalf("Kexec = %v", err)
	}
	if len(n.jumped) != 0 {
		t.Fatal("jumped after a failed load")
	}
}

func TestResetAndKexecRefusedWithoutHooks(t *testing.T) {
	n := startNode(t)
	c := n.dial(t)
	if err := c.Reset(context.Background(), proto.ResetRequest{JobID: 2, Token: "t"}); !errors.Is(err, ErrRefused) {
		t.Errorf("Reset = %v, want ErrRefused", err)
	}
	if err := c.Kexec(context.Background(), validKexec()); !errors.Is(err, ErrRefused) {
		t.Errorf("Kexec = %v, want ErrRefused", err)
	}
}

const testDigest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // "hello"

func validKexec() proto.KexecRequest {
	return proto.KexecRequest{JobID: 2, Boot: 9, KernelURL: "/a/k/vmlinuz", KernelSize: 5, KernelDigest: testDigest,
		InitrdURL: "/a/i/initrd.img", InitrdSize: 5, InitrdDigest: testDigest, Cmdline: "console=ttyS0 rdinit=/bmcinit bmc.url=http://10.0.2.2:1", Token: "tok"}
}

func TestCheckKexec(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*proto.KexecRequest)
		ok   bool
	}{
		{"valid", func(*proto.KexecRequest) {}, true},
		{"empty cmdline", func(r *proto.KexecRequest) { r.Cmdline = "" }, true},
		{"no job", func(r *proto.KexecRequest) { r.JobID = 0 }, false},
		{"no kernel", func(r *proto.KexecRequest) { r.KernelURL = "" }, false},
		{"no initrd size", func(r *proto.KexecRequest) { r.InitrdSize = 0 }, false},
		{"no token", func(r *proto.KexecRequest) { r.Token = "" }, false},
		{"token with a blank", func(r *proto.KexecRequest) { r.Token = "a b" }, false},
		{"token with a quote", func(r *proto.KexecRequest) { r.Token = `a"` }, false},
		{"token in cmdline", func(r *proto.KexecRequest) { r.Cmdline += " bmc.token=x" }, false},
		{"quoted token in cmdline", func(r *proto.KexecRequest) { r.Cmdline += ` "bmc.token=x y"` }, false},
		{"open quote in cmdline", func(r *proto.KexecRequest) { r.Cmdline += ` "x` }, false},
		{"newline in cmdline", func(r *proto.KexecRequest) { r.Cmdline += "\nx" }, false},
		{"form feed in cmdline", func(r *proto.KexecRequest) { r.Cmdline = "\f=0" }, false},
		{"md5 digest", func(r *proto.KexecRequest) { r.KernelDigest = "md5:abc" }, false},
		{"short digest", func(r *proto.KexecRequest) { r.InitrdDigest = "sha256:abcd" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := validKexec()
			tc.edit(&req)
			err := CheckKexec(req)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadRequest)) {
				t.Fatalf("CheckKexec = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// FuzzKexecCmdline: whatever a request that passes CheckKexec holds, the
// next kernel sees exactly its token as bmc.token and the request's other
// parameters unchanged.
func FuzzKexecCmdline(f *testing.F) {
	f.Add("console=ttyS0 rdinit=/bmcinit", "tok")
	f.Add(`a="b c" d`, "x")
	f.Add(`"`, "t")
	f.Fuzz(func(t *testing.T, cmdline, token string) {
		req := validKexec()
		req.Cmdline, req.Token = cmdline, token
		if CheckKexec(req) != nil {
			return
		}
		got := SplitCmdline(KexecCmdline(req))
		if got[proto.ParamToken] != token {
			t.Fatalf("token %q became %q in %q", token, got[proto.ParamToken], KexecCmdline(req))
		}
		for k, v := range SplitCmdline(cmdline) {
			if got[k] != v {
				t.Fatalf("%s=%q became %q", k, v, got[k])
			}
		}
	})
}

func TestCopyVerified(t *testing.T) {
	for _, tc := range []struct {
		name, body, digest string
		size               int64
		ok                 bool
	}{
		{"match", "hello", testDigest, 5, true},
		{"upper-case hex", "hello", testDigest[:7] + strings.ToUpper(testDigest[7:]), 5, true},
		{"upper-case algorithm", "hello", "SHA256:" + testDigest[7:], 5, false},
		{"short", "hell", testDigest, 5, false},
		{"long", "hello!", testDigest, 5, false},
		{"other bytes", "jello", testDigest, 5, false},
		{"bad digest", "hello", "sha256:xyz", 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w bytes.Buffer
			err := CopyVerified(&w, strings.NewReader(tc.body), tc.size, tc.digest)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrRootfsMismatch)) {
				t.Fatalf("CopyVerified = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
