package pid1

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bmc-sched/bmc/agent"
	"github.com/bmc-sched/bmc/agent/proto"
)

// node is what PID 1 keeps for the life of one kernel: the controller
// callbacks, whose token a reset replaces with the next job's, and the
// DHCP lease.
type node struct {
	log    *slog.Logger
	lease  Lease
	reaper *agent.Reaper // runs kexec-tools without losing its exit status
	api    atomic.Pointer[agent.API]
}

// withToken is the current callbacks' client with another token.
func (n *node) withToken(token string) *agent.API {
	cur := n.api.Load()
	return &agent.API{BaseURL: cur.BaseURL, Token: token, HTTP: cur.HTTP}
}

// reset gives the next job of the same user a fresh machine on this boot
// (proto.ExecReset); the server has killed the old job's namespace. The old
// root is detached whole and a new tmpfs filled from the image again.
//
// The image is downloaded again rather than kept: a copy of the tar in RAM
// would cost its full size for the whole life of every job on the machine
// (the job's root already takes up to three quarters of RAM), while the
// download costs what it costs at boot — 0.3–0.6 s for the lab's 2.1 MB
// image, and about a second per GB on a 10 Gb/s node network from the
// controller's cache — and the new job's token makes the controller serve
// exactly the image it chose for the new job.
func (n *node) reset(ctx context.Context, req proto.ResetRequest) (proto.Config, error) {
	api := n.withToken(req.Token)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	cfg, err := api.Config(cctx)
	cancel()
	if err != nil {
		return cfg, fmt.Errorf("config with the new token: %w", err)
	}
	if cfg.JobID != req.JobID {
		return cfg, fmt.Errorf("%w: the new token's config is for job %d, not %d", agent.ErrOtherJob, cfg.JobID, req.JobID)
	}
	// MNT_DETACH takes the old job's /proc, /sys and /dev mounts along; the
	// tmpfs's memory is freed once nothing holds it, and nothing does: every
	// process that could was in the killed namespace.
	if err := unix.Unmount(NewRoot, unix.MNT_DETACH); err != nil {
		return cfg, fmt.Errorf("unmount the old root: %w", err)
	}
	n.log.Info("reset", "job", cfg.JobID, "boot", req.Boot, "rootfs_size", cfg.RootfsSize)
	if err := fetchRootfs(ctx, n.log, api, cfg, n.lease); err != nil {
		return cfg, err
	}
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			n.log.Warn("hostname not set", "err", err)
		}
	}
	n.api.Store(api)
	progress(ctx, n.log, api, "reset", fmt.Sprintf("job %d", cfg.JobID))
	return cfg, nil
}

// callbacks returns the current callbacks' client; a reset swaps it.
func (n *node) callbacks() *agent.API { return n.api.Load() }

// newNode starts a node's state with the boot's callbacks.
func newNode(log *slog.Logger, lease Lease, api *agent.API, reaper *agent.Reaper) *node {
	n := &node{log: log, lease: lease, reaper: reaper}
	if api.HTTP == nil {
		api.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	n.api.Store(api)
	return n
}
