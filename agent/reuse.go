package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bmc-sched/bmc/agent/proto"
)

// killTimeout bounds the wait for a SIGKILLed job to be gone. A PID
// namespace ends within milliseconds; longer means a process stuck in the
// kernel (uninterruptible I/O), and the machine should not be reused.
const killTimeout = 10 * time.Second

// ResetFunc rebuilds the node for the next job once the old one is gone
// (bmcinit: fetch the Config with the request's token, unpack the image into
// a new root, send later callbacks with the new token). It returns that
// Config; the server then accepts only its AuthorizedKey and JobID.
type ResetFunc func(ctx context.Context, req proto.ResetRequest) (proto.Config, error)

// KexecFunc loads the next boot's kernel once the old job is gone and
// returns the jump into it, which the server calls after its answer left.
type KexecFunc func(ctx context.Context, req proto.KexecRequest) (jump func(), err error)

// CheckReset says whether a ResetRequest can be acted on.
func CheckReset(req proto.ResetRequest) error {
	switch {
	case req.JobID == 0:
		return fmt.Errorf("%w: reset without job_id", ErrBadRequest)
	case !validToken(req.Token):
		return fmt.Errorf("%w: reset needs the new job's agent token (base64url)", ErrBadRequest)
	}
	return nil
}

// CheckKexec says whether a KexecRequest can be acted on.
func CheckKexec(req proto.KexecRequest) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: kexec: "+format, append([]any{ErrBadRequest}, a...)...)
	}
	switch {
	case req.JobID == 0:
		return bad("no job_id")
	case req.KernelURL == "" || req.InitrdURL == "":
		return bad("kernel_url and initrd_url are required")
	case req.KernelSize <= 0 || req.InitrdSize <= 0:
		return bad("kernel_size and initrd_size are required")
	case !validToken(req.Token):
		return bad("the new boot's agent token (base64url) is required")
	case strings.IndexFunc(req.Cmdline, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return bad("cmdline holds a control character")
	case strings.Count(req.Cmdline, `"`)%2 != 0:
		// An open quote would swallow the token parameter appended to it.
		return bad("cmdline has an unbalanced double quote")
	}
	if _, ok := SplitCmdline(req.Cmdline)[proto.ParamToken]; ok {
		return bad("cmdline carries %s; send it as token", proto.ParamToken)
	}
	for _, d := range []string{req.KernelDigest, req.InitrdDigest} {
		if _, err := parseDigest(d); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// validToken accepts what the controller mints (base64url, boot/token.go):
// a token travels on a kernel command line, where a blank or a quote would
// change its meaning.
func validToken(tok string) bool {
	if tok == "" || len(tok) > 256 {
		return false
	}
	for _, c := range []byte(tok) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// KexecCmdline is the command line the next kernel boots with: the
// request's, then the new boot's token.
func KexecCmdline(req proto.KexecRequest) string {
	tok := proto.ParamToken + "=" + req.Token
	if req.Cmdline == "" {
		return tok
	}
	return req.Cmdline + " " + tok
}

// readRequest reads an exec's JSON request from the channel.
func readRequest(ch ssh.Channel, v any) error {
	body, err := io.ReadAll(io.LimitReader(ch, maxRunRequest+1))
	if err != nil {
		return err
	}
	if len(body) > maxRunRequest {
		return fmt.Errorf("%w: request over %d bytes", ErrBadRequest, maxRunRequest)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return nil
}

// endJob kills the current job and everything it started.
func (s *Server) endJob(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, killTimeout)
	defer cancel()
	return s.jobs.kill(ctx)
}

func (s *Server) execReset(ctx context.Context, ch ssh.Channel) {
	var req proto.ResetRequest
	if err := readRequest(ch, &req); err != nil {
		sendError(ch, err)
		return
	}
	if err := CheckReset(req); err != nil {
		sendError(ch, err)
		return
	}
	s.resetMu.Lock()
	defer s.resetMu.Unlock()
	start := time.Now()
	if err := s.endJob(ctx); err != nil {
		sendError(ch, err)
		return
	}
	cfg, err := s.reset(ctx, req)
	if err != nil {
		sendError(ch, fmt.Errorf("agent: reset for job %d: %w", req.JobID, err))
		return
	}
	if cfg.JobID != req.JobID {
		sendError(ch, fmt.Errorf("%w: the new token's config is for job %d, not %d", ErrOtherJob, cfg.JobID, req.JobID))
		return
	}
	key, err := parseAuthorizedKey(cfg.AuthorizedKey)
	if err != nil {
		sendError(ch, err)
		return
	}
	if err := s.jobs.handOver(req.JobID); err != nil {
		sendError(ch, err)
		return
	}
	s.key.Store(&clientKey{wire: key, epoch: s.key.Load().epoch + 1})
	s.log.Info("node reset for the next job", "job", req.JobID, "boot", req.Boot, "took", time.Since(start).String())
	_ = ch.CloseWrite()
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
	_ = ch.Close()
	// Connections authenticated with the old job's key end here, a moment
	// later so the answer is read before the socket closes under it; the
	// server refuses their requests meanwhile.
	epoch := s.key.Load().epoch
	time.AfterFunc(closeDelay, func() { s.closeOlder(epoch) })
}

// closeDelay lets an answer reach the client before its connection closes.
const closeDelay = 500 * time.Millisecond

func (s *Server) execKexec(ctx context.Context, ch ssh.Channel) {
	var req proto.KexecRequest
	if err := readRequest(ch, &req); err != nil {
		sendError(ch, err)
		return
	}
	if err := CheckKexec(req); err != nil {
		sendError(ch, err)
		return
	}
	s.resetMu.Lock()
	defer s.resetMu.Unlock()
	if err := s.endJob(ctx); err != nil {
		sendError(ch, err)
		return
	}
	jump, err := s.kexec(ctx, req)
	if err != nil {
		sendError(ch, fmt.Errorf("agent: kexec for job %d: %w", req.JobID, err))
		return
	}
	s.log.Info("jumping into the next kernel", "job", req.JobID, "boot", req.Boot)
	_ = ch.CloseWrite()
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
	_ = ch.Close()
	s.closeOlder(^uint64(0))
	jump()
}

// closeOlder closes the connections authenticated with a key older than
// epoch; those that made it with the current key stay.
func (s *Server) closeOlder(epoch uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, e := range s.conns {
		if e != 0 && e-1 < epoch {
			c.Close()
		}
	}
}

// Reset ends the job on the node and readies it for req.JobID (see
// proto.ExecReset). On success the agent has closed this connection: Dial
// again with the new job's key. A *RemoteError says why the node could not
// be reused; the old job is gone either way, and a node that failed a reset
// should be powered off rather than trusted.
func (c *Client) Reset(ctx context.Context, req proto.ResetRequest) error {
	return c.call(ctx, proto.ExecReset, req)
}

// Kexec ends the job on the node and boots it into the next kernel (see
// proto.ExecKexec). nil means the agent loaded the kernel and is jumping;
// the new boot's agent then calls back with req.Token. A *RemoteError means
// nothing was loaded (the old job is gone, the old kernel still runs).
func (c *Client) Kexec(ctx context.Context, req proto.KexecRequest) error {
	return c.call(ctx, proto.ExecKexec, req)
}

func (c *Client) call(ctx context.Context, command string, req any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("agent: encode %s request: %w", command, err)
	}
	code, err := c.exec(ctx, command, body, io.Discard, io.Discard, 0, 0)
	if err == nil && code != 0 {
		return fmt.Errorf("%w: %s exited %d", ErrRemote, command, code)
	}
	return err
}
