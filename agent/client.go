package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bmc-sched/bmc/agent/proto"
)

// Errors the controller's client returns; test them with errors.Is.
var (
	// ErrConnLost: the connection or channel ended before the agent sent an
	// exit status. The command may still run: Attach with the offsets from
	// the *StreamError to get the rest.
	ErrConnLost = errors.New("agent: connection to node lost")
	// ErrRefused: the agent refused the exec request (unknown command, or
	// one it does not serve, such as power-off without a power hook).
	ErrRefused = errors.New("agent: request refused by node")
	// ErrRemote: the agent answered with a bmc-error (see *RemoteError).
	ErrRemote = errors.New("agent: node reported an error")
)

// RemoteError carries the agent's reason, such as "command not found".
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return "agent: node: " + e.Msg }

// remoteSentinels are the agent errors a RemoteError can be matched
// against with errors.Is: the agent wraps them first ("%w: detail"), so the
// message starts with their text.
var remoteSentinels = []error{ErrNoJob, ErrOtherJob, ErrBadOffset, ErrBadRequest, ErrUnknownUser, exec.ErrNotFound}

// Is makes errors.Is(err, ErrRemote) true, and errors.Is(err, ErrNoJob)
// (and the other agent sentinels) true when the agent reported that error.
func (e *RemoteError) Is(target error) bool {
	if target == ErrRemote {
		return true
	}
	for _, s := range remoteSentinels {
		if target == s {
			return strings.HasPrefix(e.Msg, s.Error())
		}
	}
	return false
}

// StreamError says how far the output got before a stream broke, as
// absolute offsets into the job's stdout and stderr: pass them to Attach.
type StreamError struct {
	Stdout, Stderr int64
	Err            error
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("%v (stdout at %d, stderr at %d)", e.Err, e.Stdout, e.Stderr)
}

func (e *StreamError) Unwrap() error { return e.Err }

// Client is the controller's SSH connection to one node agent.
type Client struct {
	conn ssh.Conn
	done chan struct{}
	once sync.Once
}

// KeepAlive is how often Dial's connections probe the agent; a probe left
// unanswered for two intervals closes the connection so a node that died
// silently turns into ErrConnLost instead of a hang.
const KeepAlive = 15 * time.Second

// HandshakeTimeout bounds Dial's SSH handshake with an agent that accepted
// the TCP connection but does not answer.
const HandshakeTimeout = 30 * time.Second

// Dial connects to an agent whose host key the controller pinned from its
// Ready callback, authenticating with the job's key.
func Dial(ctx context.Context, addr string, hostKey ssh.PublicKey, signer ssh.Signer) (*Client, error) {
	if hostKey == nil || signer == nil {
		return nil, errors.New("agent: dial needs the pinned host key and the job key")
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("agent: dial %s: %w", addr, err)
	}
	cfg := &ssh.ClientConfig{
		User:              "root",
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   ssh.FixedHostKey(hostKey),
		HostKeyAlgorithms: hostKeyAlgorithms(hostKey),
	}
	// The handshake is bounded by ctx (closing the socket unblocks it) and
	// by HandshakeTimeout for a ctx without deadline.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(HandshakeTimeout))
	conn, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	_ = nc.SetDeadline(time.Time{})
	if !stop() {
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("agent: ssh handshake with %s: %w", addr, ctx.Err())
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("agent: ssh handshake with %s: %w", addr, err)
	}
	go ssh.DiscardRequests(reqs)
	go func() {
		for nc := range chans {
			_ = nc.Reject(ssh.Prohibited, "controller accepts no channels")
		}
	}()
	c := &Client{conn: conn, done: make(chan struct{})}
	go c.keepAlive(KeepAlive)
	go func() {
		_ = conn.Wait()
		c.once.Do(func() { close(c.done) })
	}()
	return c, nil
}

func hostKeyAlgorithms(k ssh.PublicKey) []string {
	if k.Type() == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{k.Type()}
}

func (c *Client) keepAlive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		replied := make(chan struct{})
		go func() {
			_, _, _ = c.conn.SendRequest("keepalive@openssh.com", true, nil)
			close(replied)
		}()
		select {
		case <-replied:
		case <-c.done:
			return
		case <-time.After(2 * every):
			c.conn.Close()
			return
		}
	}
}

// Close closes the connection; commands on the node keep running.
func (c *Client) Close() error { return c.conn.Close() }

// Run starts the job's command (or attaches to it from offset 0 if this
// job's command already started) and streams its output until it ends.
// It returns the exit code with a nil error when the command ended; a
// *StreamError wrapping ErrConnLost when the connection broke first, or
// wrapping ctx.Err() on cancel (the command keeps running either way); a
// *RemoteError when the agent could not run it.
func (c *Client) Run(ctx context.Context, req proto.RunRequest, stdout, stderr io.Writer) (int, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("agent: encode run request: %w", err)
	}
	return c.exec(ctx, proto.ExecRun, body, stdout, stderr, 0, 0)
}

// Attach replays the job's output from the given offsets and follows it
// until the command ends, then returns its exit code (errors as Run).
func (c *Client) Attach(ctx context.Context, outOff, errOff int64, stdout, stderr io.Writer) (int, error) {
	cmd := fmt.Sprintf("%s %d %d", proto.ExecAttach, outOff, errOff)
	return c.exec(ctx, cmd, nil, stdout, stderr, outOff, errOff)
}

// PowerOff asks the agent to sync and power the machine off. Losing the
// connection after the agent accepted the request counts as success: the
// machine is going down.
func (c *Client) PowerOff(ctx context.Context) error {
	_, err := c.exec(ctx, proto.ExecPowerOff, nil, io.Discard, io.Discard, 0, 0)
	if errors.Is(err, ErrConnLost) {
		return nil
	}
	return err
}

// Signal sends a signal (RFC 4254 name: "TERM", "KILL", ...) to the job's
// process group, as scancel or a time limit does before powering off.
// Signalling a command that already ended succeeds; ErrRemote when no
// command was started.
func (c *Client) Signal(ctx context.Context, name string) error {
	code, err := c.exec(ctx, proto.ExecSignal+" "+name, nil, io.Discard, io.Discard, 0, 0)
	if err == nil && code != 0 {
		return fmt.Errorf("%w: bmc-signal exited %d", ErrRemote, code)
	}
	return err
}

// countWriter counts what reached w and remembers w's own error, so a
// failing local writer is told apart from a failing connection.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (cw *countWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	if err != nil {
		cw.err = err
	}
	return n, err
}

func (c *Client) exec(ctx context.Context, command string, stdin []byte, stdout, stderr io.Writer, outOff, errOff int64) (int, error) {
	out := &countWriter{w: stdout}
	errw := &countWriter{w: stderr}
	lost := func(err error) error {
		return &StreamError{Stdout: outOff + out.n, Stderr: errOff + errw.n, Err: fmt.Errorf("%w: %w", ErrConnLost, err)}
	}
	// A cancelled call also says how far it got, so the caller can attach
	// later without duplicating output.
	cancelledErr := func() error {
		return &StreamError{Stdout: outOff + out.n, Stderr: errOff + errw.n, Err: ctx.Err()}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ch, reqs, err := c.conn.OpenChannel("session", nil)
	if err != nil {
		return 0, lost(err)
	}
	var cancelled bool
	var mu sync.Mutex
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		cancelled = true
		mu.Unlock()
		ch.Close()
	})
	defer stop()
	defer ch.Close()

	// Collect the channel's requests while the exec request is in flight:
	// an unread request would stall the connection.
	type result struct {
		code    int
		gotCode bool
		remote  *RemoteError
	}
	resCh := make(chan result, 1)
	go func() {
		var r result
		for req := range reqs {
			switch req.Type {
			case "exit-status":
				var st struct{ Status uint32 }
				if ssh.Unmarshal(req.Payload, &st) == nil {
					r.code, r.gotCode = int(st.Status), true
				}
			case proto.ReqError:
				var m struct{ Msg string }
				if ssh.Unmarshal(req.Payload, &m) == nil {
					r.remote = &RemoteError{Msg: m.Msg}
				}
			}
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
		resCh <- r
	}()

	ok, err := ch.SendRequest("exec", true, ssh.Marshal(struct{ Command string }{command}))
	if err != nil {
		if isCancelled(&mu, &cancelled) {
			return 0, cancelledErr()
		}
		return 0, lost(err)
	}
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrRefused, strings.Fields(command)[0])
	}
	if stdin != nil {
		if _, err := ch.Write(stdin); err != nil {
			if isCancelled(&mu, &cancelled) {
				return 0, cancelledErr()
			}
			return 0, lost(err)
		}
	}
	_ = ch.CloseWrite()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if _, err := io.Copy(out, ch); err != nil && out.err != nil {
			ch.Close() // our writer failed: stop the stream
		}
	}()
	go func() {
		defer wg.Done()
		if _, err := io.Copy(errw, ch.Stderr()); err != nil && errw.err != nil {
			ch.Close()
		}
	}()
	wg.Wait()
	r := <-resCh
	switch {
	case isCancelled(&mu, &cancelled):
		return 0, cancelledErr()
	case out.err != nil || errw.err != nil:
		return 0, fmt.Errorf("agent: write output: %w", errors.Join(out.err, errw.err))
	case r.remote != nil:
		return 0, r.remote
	case r.gotCode:
		return r.code, nil
	}
	return 0, lost(errors.New("channel closed without exit status"))
}

func isCancelled(mu *sync.Mutex, b *bool) bool {
	mu.Lock()
	defer mu.Unlock()
	return *b
}

// NewJobKey makes the controller's per-job ed25519 key: a signer for Dial,
// its private key as OpenSSH PEM (store it 0600), and the authorized_keys
// line for proto.Config.AuthorizedKey.
func NewJobKey() (signer ssh.Signer, privatePEM []byte, authorizedKey string, err error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, "", fmt.Errorf("agent: job key: %w", err)
	}
	signer, err = ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, "", fmt.Errorf("agent: job key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "bmc job key")
	if err != nil {
		return nil, nil, "", fmt.Errorf("agent: job key: %w", err)
	}
	return signer, pem.EncodeToMemory(block), AuthorizedKey(signer.PublicKey()), nil
}

// ParseJobKey reads a key NewJobKey produced.
func ParseJobKey(privatePEM []byte) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey(privatePEM)
	if err != nil {
		return nil, fmt.Errorf("agent: parse job key: %w", err)
	}
	return s, nil
}

// AuthorizedKey formats k as one authorized_keys line without newline, the
// form of proto.Config.AuthorizedKey and proto.Ready.HostKey.
func AuthorizedKey(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// ParseHostKey reads proto.Ready.HostKey for Dial.
func ParseHostKey(s string) (ssh.PublicKey, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("agent: parse host key: %w", err)
	}
	return k, nil
}
