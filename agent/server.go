package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bmc-sched/bmc/agent/proto"
)

// maxRunRequest bounds the RunRequest JSON read from the channel.
const maxRunRequest = 1 << 20

// ServerOptions configure the agent's SSH server.
type ServerOptions struct {
	HostKey ssh.Signer
	// AuthorizedKey is the only client key accepted (authorized_keys line).
	AuthorizedKey string
	Runner        Runner
	// OutputDir receives <job>.out and <job>.err (bmcinit: /run/bmc).
	OutputDir string
	// JobID, when set, is the only job this node runs (proto.Config.JobID).
	JobID uint64
	// PowerOff is called after a bmc-poweroff request was answered.
	PowerOff func()
	// Reset and Kexec, when set, serve bmc-reset and bmc-kexec.
	Reset ResetFunc
	Kexec KexecFunc
	Log   *slog.Logger
	// HandshakeTimeout bounds an unauthenticated connection (default 30s).
	HandshakeTimeout time.Duration
}

// Server is the node agent's SSH server: exec of the bmc-* commands only.
type Server struct {
	cfg      *ssh.ServerConfig
	jobs     *jobTable
	powerOff func()
	reset    ResetFunc
	kexec    KexecFunc
	log      *slog.Logger
	hsTO     time.Duration
	// key is the one client key accepted; a reset swaps it.
	key atomic.Pointer[clientKey]
	// resetMu keeps two resets or kexecs from interleaving.
	resetMu sync.Mutex

	mu sync.Mutex
	// conns maps each open connection to 1 + the epoch of the key it
	// authenticated with, 0 while its handshake runs.
	conns map[net.Conn]uint64
}

// NewServer checks the options and builds a server.
func NewServer(o ServerOptions) (*Server, error) {
	if o.HostKey == nil || o.Runner == nil || o.OutputDir == "" {
		return nil, errors.New("agent: server needs a host key, a runner and an output dir")
	}
	want, err := parseAuthorizedKey(o.AuthorizedKey)
	if err != nil {
		return nil, err
	}
	s := &Server{
		jobs:     &jobTable{runner: o.Runner, dir: o.OutputDir, only: o.JobID},
		powerOff: o.PowerOff,
		reset:    o.Reset,
		kexec:    o.Kexec,
		log:      o.Log,
		hsTO:     o.HandshakeTimeout,
		conns:    make(map[net.Conn]uint64),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.jobs.log = s.log
	s.key.Store(&clientKey{wire: want})
	if s.hsTO == 0 {
		s.hsTO = 30 * time.Second
	}
	s.cfg = &ssh.ServerConfig{
		// Only the job's key: no password or keyboard-interactive callback is
		// set, so the library offers neither method.
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			k := s.key.Load()
			if string(key.Marshal()) == string(k.wire) {
				return &ssh.Permissions{Extensions: map[string]string{permKeyEpoch: strconv.FormatUint(k.epoch, 10)}}, nil
			}
			return nil, fmt.Errorf("agent: key %s is not the job's key", ssh.FingerprintSHA256(key))
		},
		MaxAuthTries: 3,
	}
	s.cfg.AddHostKey(o.HostKey)
	return s, nil
}

// clientKey is the accepted key in wire format and its epoch, which each
// reset raises: a connection made with an older key is refused every
// request, so it cannot reach the next job even before it is closed.
type clientKey struct {
	wire  []byte
	epoch uint64
}

// permKeyEpoch carries the epoch of the key a connection authenticated with.
const permKeyEpoch = "bmc-key-epoch"

func parseAuthorizedKey(line string) ([]byte, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, fmt.Errorf("agent: authorized key: %w", err)
	}
	return k.Marshal(), nil
}

// Status reports the job's command for heartbeats: running, and its exit
// code once it ended.
func (s *Server) Status() (running bool, exitCode *int) { return s.jobs.status() }

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection. Commands keep running: they belong to the node, not to a
// connection.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("agent: accept: %w", err)
		}
		s.mu.Lock()
		s.conns[c] = 0
		s.mu.Unlock()
		go func() {
			s.handleConn(ctx, c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func (s *Server) handleConn(ctx context.Context, c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(s.hsTO))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		s.log.Warn("ssh handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	_ = c.SetDeadline(time.Time{})
	defer sc.Close()
	epoch, _ := strconv.ParseUint(sc.Permissions.Extensions[permKeyEpoch], 10, 64)
	s.mu.Lock()
	if _, open := s.conns[c]; open {
		s.conns[c] = epoch + 1
	}
	s.mu.Unlock()
	s.log.Info("ssh connection", "remote", c.RemoteAddr().String())
	go ssh.DiscardRequests(reqs) // tcpip-forward and friends: refused
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.Prohibited, "only session channels")
			continue
		}
		go s.handleSession(ctx, nc, sc.Permissions.Extensions[permKeyEpoch])
	}
}

func (s *Server) handleSession(ctx context.Context, nc ssh.NewChannel, epoch string) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	execDone := false // one exec per session, as in OpenSSH
	for req := range reqs {
		if req.Type != "exec" {
			// shell, pty-req, env, subsystem, x11-req, signal...: refused.
			_ = req.Reply(false, nil)
			continue
		}
		var p struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &p); err != nil {
			_ = req.Reply(false, nil)
			continue
		}
		handler, ok := s.execHandler(p.Command)
		if execDone || !ok || epoch != strconv.FormatUint(s.key.Load().epoch, 10) {
			_ = req.Reply(false, nil)
			continue
		}
		execDone = true
		_ = req.Reply(true, nil)
		s.log.Info("ssh exec", "command", p.Command)
		go func() {
			defer ch.Close()
			handler(ctx, ch)
		}()
	}
}

type execFunc func(ctx context.Context, ch ssh.Channel)

func (s *Server) execHandler(command string) (execFunc, bool) {
	f := strings.Fields(command)
	if len(f) == 0 {
		return nil, false
	}
	switch f[0] {
	case proto.ExecRun:
		if len(f) != 1 {
			return nil, false
		}
		return s.execRun, true
	case proto.ExecAttach:
		outOff, errOff, err := ParseAttach(command)
		if err != nil {
			return nil, false
		}
		return func(ctx context.Context, ch ssh.Channel) { s.execAttach(ctx, ch, outOff, errOff) }, true
	case proto.ExecSignal:
		sig, err := ParseSignal(command)
		if err != nil {
			return nil, false
		}
		return func(ctx context.Context, ch ssh.Channel) { s.execSignal(ch, sig) }, true
	case proto.ExecReset:
		if len(f) != 1 || s.reset == nil {
			return nil, false
		}
		return s.execReset, true
	case proto.ExecKexec:
		if len(f) != 1 || s.kexec == nil {
			return nil, false
		}
		return s.execKexec, true
	case proto.ExecPowerOff:
		if len(f) != 1 || s.powerOff == nil {
			return nil, false
		}
		return s.execPowerOff, true
	}
	return nil, false
}

// ParseAttach parses "bmc-attach <stdout-offset> <stderr-offset>".
func ParseAttach(command string) (outOff, errOff int64, err error) {
	f := strings.Fields(command)
	if len(f) != 3 || f[0] != proto.ExecAttach {
		return 0, 0, fmt.Errorf("%w: want %q", ErrBadRequest, proto.ExecAttach+" <stdout-offset> <stderr-offset>")
	}
	outOff, err1 := strconv.ParseInt(f[1], 10, 64)
	errOff, err2 := strconv.ParseInt(f[2], 10, 64)
	if err := errors.Join(err1, err2); err != nil || outOff < 0 || errOff < 0 {
		return 0, 0, fmt.Errorf("%w: bad offsets in %q", ErrBadRequest, command)
	}
	return outOff, errOff, nil
}

func (s *Server) execRun(ctx context.Context, ch ssh.Channel) {
	body, err := io.ReadAll(io.LimitReader(ch, maxRunRequest+1))
	if err != nil {
		return // the connection went away before the request arrived
	}
	var req proto.RunRequest
	if len(body) > maxRunRequest {
		sendError(ch, fmt.Errorf("%w: request over %d bytes", ErrBadRequest, maxRunRequest))
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		sendError(ch, fmt.Errorf("%w: %w", ErrBadRequest, err))
		return
	}
	j, err := s.jobs.start(req)
	if err != nil {
		sendError(ch, err)
		return
	}
	s.log.Info("job command", "job", req.JobID, "argv", req.Argv)
	s.stream(ctx, ch, j, 0, 0)
}

func (s *Server) execAttach(ctx context.Context, ch ssh.Channel, outOff, errOff int64) {
	j := s.jobs.current()
	if j == nil {
		sendError(ch, ErrNoJob)
		return
	}
	s.stream(ctx, ch, j, outOff, errOff)
}

// stream replays and follows both logs, then sends the exit status. It ends
// early, without a status, if the channel breaks.
func (s *Server) stream(ctx context.Context, ch ssh.Channel, j *runningJob, outOff, errOff int64) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, errs[0] = j.out.follow(ctx, outOff, ch)
		if errs[0] != nil {
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		_, errs[1] = j.err.follow(ctx, errOff, ch.Stderr())
		if errs[1] != nil {
			cancel()
		}
	}()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if errors.Is(err, ErrBadOffset) {
			sendError(ch, err)
		}
		return
	}
	code, err := s.jobs.wait(ctx, j)
	if err != nil {
		sendError(ch, err)
		return
	}
	_ = ch.CloseWrite()
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
}

// signals are the RFC 4254 names bmc-signal accepts.
var signals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP,
	"QUIT": syscall.SIGQUIT, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}

// ParseSignal parses "bmc-signal <NAME>".
func ParseSignal(command string) (syscall.Signal, error) {
	f := strings.Fields(command)
	if len(f) != 2 || f[0] != proto.ExecSignal {
		return 0, fmt.Errorf("%w: want %q", ErrBadRequest, proto.ExecSignal+" <NAME>")
	}
	sig, ok := signals[strings.TrimPrefix(f[1], "SIG")]
	if !ok {
		return 0, fmt.Errorf("%w: unknown signal %q", ErrBadRequest, f[1])
	}
	return sig, nil
}

func (s *Server) execSignal(ch ssh.Channel, sig syscall.Signal) {
	if err := s.jobs.signal(sig); err != nil {
		sendError(ch, err)
		return
	}
	s.log.Info("job signalled", "signal", sig.String())
	_ = ch.CloseWrite()
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
}

func (s *Server) execPowerOff(ctx context.Context, ch ssh.Channel) {
	s.log.Info("power off requested")
	_ = ch.CloseWrite()
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
	_ = ch.Close()
	s.powerOff()
}

func sendError(ch ssh.Channel, err error) {
	_, _ = ch.SendRequest(proto.ReqError, false, ssh.Marshal(struct{ Msg string }{err.Error()}))
}
