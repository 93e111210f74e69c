package realnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bmc-sched/bmc/agent"
	"github.com/bmc-sched/bmc/agent/proto"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
)

// ReconnectWindow bounds how long a lost connection to a running job's agent
// is retried before the job is NODE_FAIL and its machine powered off.
const ReconnectWindow = 45 * time.Second

// session is one SSH connection to a booted node's agent.
type session struct {
	m       *Machine
	mu      sync.Mutex
	c       *agent.Client
	addr    string
	hostKey string
	key     ssh.PublicKey
	job     *job.Job
	resumed bool
}

// Pin returns what the controller stores to reconnect after a restart.
func (s *session) Pin() (hostKey, addr string) { return s.hostKey, s.addr }

func runRequest(j *job.Job) proto.RunRequest {
	env := map[string]string{}
	for k, v := range j.Spec.Environment {
		env[k] = v
	}
	env["BMC_JOB_ID"] = strconv.FormatUint(j.ID, 10)
	env["BMC_JOB_NAME"] = j.Spec.Name
	env["BMC_NODE"] = j.Node
	if j.IsArrayTask() {
		env["BMC_ARRAY_JOB_ID"] = strconv.FormatUint(j.ArrayJobID, 10)
		env["BMC_ARRAY_TASK_ID"] = strconv.Itoa(j.ArrayTaskID)
	}
	return proto.RunRequest{JobID: j.ID, Argv: j.Spec.Command.Argv, Shell: j.Spec.Command.Shell, Env: env, User: j.Spec.RunAs}
}

// Run starts the command (or attaches after a restart) and follows it to its
// end. A broken connection is re-dialled and re-attached at the offsets the
// output reached, so a network blip loses and repeats nothing.
func (s *session) Run(ctx context.Context, j *job.Job, stdout, stderr io.Writer, outOff, errOff int64) (int, error) {
	attach := s.resumed
	for tries := 0; ; tries++ {
		var code int
		var err error
		if attach {
			code, err = s.c.Attach(ctx, outOff, errOff, stdout, stderr)
			var re *agent.RemoteError
			if errors.As(err, &re) && re.Msg == agent.ErrNoJob.Error() && outOff == 0 && errOff == 0 {
				// The controller stopped between RUNNING and the start:
				// nothing ran yet, so starting it now runs it once.
				attach = false
				code, err = s.c.Run(ctx, runRequest(j), stdout, stderr)
			}
		} else {
			code, err = s.c.Run(ctx, runRequest(j), stdout, stderr)
		}
		var se *agent.StreamError
		if err == nil || ctx.Err() != nil || !errors.As(err, &se) || tries >= 5 {
			if err != nil && errors.Is(err, agent.ErrConnLost) {
				err = fmt.Errorf("%w: %w", machine.ErrLost, err)
			}
			return code, err
		}
		s.m.log.Warn("connection to node agent lost; reconnecting", "job", j.ID, "err", err)
		outOff, errOff, attach = se.Stdout, se.Stderr, true
		s.c.Close()
		// A node that stopped answering must become NODE_FAIL in bounded
		// time, not after every dial's own handshake timeout.
		rctx, cancel := context.WithTimeout(ctx, ReconnectWindow)
		ns, derr := s.m.connect(rctx, j, s.hostKey, s.addr, s.key, 5)
		cancel()
		if derr != nil {
			return code, fmt.Errorf("%w: %w (reconnect: %w)", machine.ErrLost, err, derr)
		}
		s.c = ns.c
	}
}

// PowerOff asks the agent to switch the machine off in-band.
func (s *session) PowerOff(ctx context.Context) error { return s.c.PowerOff(ctx) }

func (s *session) Close() error { return s.c.Close() }
