// Package proto holds the wire types between the node agent (bmcinit) and the
// controller: the authenticated HTTP callbacks the agent makes during boot and
// the requests the controller sends over SSH. It is tiny on purpose: bmcinit is
// a static binary and must not pull the controller's dependencies in.
package proto

// Kernel command-line parameters the controller puts in every boot script.
const (
	ParamURL   = "bmc.url"   // base URL of the controller's node listener
	ParamToken = "bmc.token" // the boot's agent token (Authorization: Bearer)
)

// HTTP paths under the node listener, all requiring the agent token.
const (
	PathConfig    = "/agent/config"    // GET  → Config
	PathProgress  = "/agent/progress"  // POST Progress
	PathReady     = "/agent/ready"     // POST Ready
	PathHeartbeat = "/agent/heartbeat" // POST Heartbeat
)

// Config is what the agent learns after it authenticates.
type Config struct {
	JobID    uint64 `json:"job_id"`
	Node     string `json:"node"`
	Hostname string `json:"hostname"`
	// AuthorizedKey is the only key (authorized_keys format) the agent's SSH
	// server accepts: the controller's per-job key.
	AuthorizedKey string `json:"authorized_key"`
	// RootfsURL serves the flattened image as an uncompressed tar (token-bound).
	RootfsURL    string `json:"rootfs_url"`
	RootfsSize   int64  `json:"rootfs_size"`
	RootfsDigest string `json:"rootfs_digest"` // sha256:... of the tar stream
	// HeartbeatSeconds is how often the agent calls PathHeartbeat.
	HeartbeatSeconds int `json:"heartbeat_seconds"`
	SSHPort          int `json:"ssh_port"`
}

// Progress reports a boot phase ("network", "rootfs", "sshd") for bmcq and logs.
// Phase "error" (Detail = the reason) is the agent's last word before it
// powers the node off after a failed boot.
type Progress struct {
	Phase  string  `json:"phase"`
	Detail string  `json:"detail,omitempty"`
	Uptime float64 `json:"uptime"` // seconds since the kernel started
}

// Ready says the agent's SSH server is up; the controller pins HostKey.
type Ready struct {
	HostKey   string   `json:"host_key"` // authorized_keys format
	Addresses []string `json:"addresses"`
	SSHPort   int      `json:"ssh_port"`
	Uptime    float64  `json:"uptime"`
}

// Heartbeat keeps the node alive in the controller's eyes.
type Heartbeat struct {
	Uptime   float64 `json:"uptime"`
	Running  bool    `json:"running"`
	ExitCode *int    `json:"exit_code,omitempty"` // set once the command ended
	// EnergyUJ is the RAPL counter (microjoules) where the machine has one.
	EnergyUJ *uint64 `json:"energy_uj,omitempty"`
	// EnergyMaxUJ is the counter's max_energy_range_uj: EnergyUJ wraps to 0
	// after it, every few minutes to hours under load, so the controller
	// needs it to bill across a wrap.
	EnergyMaxUJ *uint64 `json:"energy_max_uj,omitempty"`
}

// SSH exec requests the agent understands; anything else is refused.
const (
	ExecRun      = "bmc-run"      // stdin: RunRequest JSON; stdout/stderr stream; exit-status
	ExecAttach   = "bmc-attach"   // "bmc-attach <stdout-offset> <stderr-offset>": replay + follow
	ExecPowerOff = "bmc-poweroff" // sync and power the machine off
	// ExecSignal is "bmc-signal <NAME>" (RFC 4254 names: TERM, KILL, INT,
	// HUP, QUIT, USR1, USR2): signal the job's process group, for a graceful
	// cancel or time limit before power-off. Exit status 0 once delivered.
	ExecSignal = "bmc-signal"
)

// ReqError is the channel request (want-reply false, payload one SSH string)
// the agent sends instead of "exit-status" when it cannot do what an exec
// asked: malformed RunRequest, program not found, unknown user, another job
// on the node, attach before any run or beyond the output. The channel then
// closes. A channel that closes with neither means the connection broke.
const ReqError = "bmc-error@bmc-sched"

// RunRequest starts the job's command inside the image root. Starting the
// same job twice attaches to the first run instead of running it again.
type RunRequest struct {
	JobID uint64            `json:"job_id"`
	Argv  []string          `json:"argv"`
	Shell bool              `json:"shell,omitempty"` // run Argv[0] with /bin/sh -c
	Env   map[string]string `json:"env,omitempty"`
	User  string            `json:"user,omitempty"` // name or uid inside the image
	Dir   string            `json:"dir,omitempty"`
}

// Requests that turn a booted machine over to the next job of the same user
// without a power cycle. Both carry their JSON on the exec channel's stdin
// (at most 1 MiB), like bmc-run, and answer exit-status 0 or a bmc-error.
const (
	// ExecReset ("bmc-reset", stdin ResetRequest): end the current job and
	// give the next one a fresh machine on the same boot. The agent kills
	// every process of the old job (each job runs in its own PID namespace,
	// so none can outlive it), drops the old job's root and output, fetches
	// the new job's Config with ResetRequest.Token, unpacks the image into a
	// new tmpfs, switches its callbacks to the new token and accepts only
	// the new job's key. After exit-status 0 the agent closes every SSH
	// connection: dial again with the new job's key (the host key stays).
	ExecReset = "bmc-reset"
	// ExecKexec ("bmc-kexec", stdin KexecRequest): end the current job,
	// load the next boot's kernel and initrd with kexec_file_load(2) (or
	// kexec-tools' kexec_load(2) where the kernel lacks it) and,
	// after answering exit-status 0, jump into it without firmware. The new
	// kernel's bmcinit calls back with the new boot's token as after a
	// network boot; the old boot's host key and connections are gone.
	ExecKexec = "bmc-kexec"
)

// ResetRequest starts a new job on a running machine. Token is the new
// job's agent token (a fresh boot's, never the old one's): the agent fetches
// PathConfig with it, checks that Config.JobID is JobID, fetches the rootfs
// with it and sends every later callback with it.
type ResetRequest struct {
	JobID uint64 `json:"job_id"`
	Boot  uint64 `json:"boot,omitempty"` // the controller's boot number, for logs
	Token string `json:"token"`
}

// KexecRequest boots the machine into another kernel without firmware.
// KernelURL and InitrdURL (absolute, or relative to bmc.url) are the new
// boot's single-use artifact URLs; the initrd is the one the controller
// serves for a network boot, agent appended. Sizes and digests are the
// served artifacts' ("sha256:<hex>"); the agent refuses other bytes.
// Cmdline is the new kernel's command line without the token parameter:
// the agent appends ParamToken=Token itself, so a request can be logged.
type KexecRequest struct {
	JobID        uint64 `json:"job_id"`
	Boot         uint64 `json:"boot,omitempty"`
	KernelURL    string `json:"kernel_url"`
	KernelSize   int64  `json:"kernel_size"`
	KernelDigest string `json:"kernel_digest"`
	InitrdURL    string `json:"initrd_url"`
	InitrdSize   int64  `json:"initrd_size"`
	InitrdDigest string `json:"initrd_digest"`
	Cmdline      string `json:"cmdline"`
	Token        string `json:"token"`
}
