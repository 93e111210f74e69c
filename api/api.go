// Package api owns the user API of bmcctld: the JSON shapes of requests and
// answers on its Unix socket, the routes, and the client the CLIs use. The
// server side lives in ctld; this package has no server logic so the CLIs
// stay small and fast to start.
package api

import (
	"time"

	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/job"
)

// Routes, relative to the socket's HTTP root.
const (
	PathJobs    = "/v1/jobs"    // GET list, POST submit
	PathNodes   = "/v1/nodes"   // GET list
	PathKernels = "/v1/kernels" // GET catalog
	PathPing    = "/v1/ping"    // GET who am I
)

// Job actions: POST /v1/jobs/{id}/{action}.
const (
	ActionCancel  = "cancel"
	ActionHold    = "hold"
	ActionRelease = "release"
	ActionRequeue = "requeue"
)

// Node actions: POST /v1/nodes/{name}/{action}.
const (
	ActionDrain  = "drain"
	ActionResume = "resume"
)

// SubmitRequest carries a validated job file. The daemon validates it again:
// clients are not trusted.
type SubmitRequest struct {
	Spec job.Spec `json:"spec"`
	// Cwd is where relative output paths resolve (the submitter's directory).
	Cwd string `json:"cwd"`
	// File names the job file, for messages.
	File string `json:"file,omitempty"`
}

// SubmitResponse lists the new job ids; an array gets one per task. Both
// protocols answer a submit with it.
type SubmitResponse = wire.SubmitResponse

// JobInfo is one row of the queue. `bmcq --json` prints these, and `bmcq show
// --json` embeds the same struct so the two always agree.
type JobInfo struct {
	ID          uint64    `json:"id"`
	JobID       string    `json:"job_id"` // as users write it: "12" or "12_3"
	ArrayJobID  uint64    `json:"array_job_id,omitempty"`
	ArrayTaskID *int      `json:"array_task_id,omitempty"`
	Name        string    `json:"name"`
	User        string    `json:"user"`
	Account     string    `json:"account,omitempty"`
	Partition   string    `json:"partition"`
	State       job.State `json:"state"`
	Reason      string    `json:"reason"`
	Detail      string    `json:"detail,omitempty"`
	Node        string    `json:"node,omitempty"`
	ExitCode    int       `json:"exit_code"`
	Priority    float64   `json:"priority,omitempty"`
	TimeLimit   float64   `json:"time_limit_seconds"`
	Elapsed     float64   `json:"elapsed_seconds"` // since allocation
	SubmitTime  time.Time `json:"submit_time"`
	StartTime   time.Time `json:"start_time,omitzero"`
	RunTime     time.Time `json:"run_time,omitzero"`
	EndTime     time.Time `json:"end_time,omitzero"`
	Simulated   bool      `json:"simulated,omitempty"`
}

// JobDetail is `bmcq show`: the row, the whole spec, and the event log.
type JobDetail struct {
	JobInfo
	Spec         job.Spec    `json:"spec"`
	Cwd          string      `json:"cwd,omitempty"`
	Output       string      `json:"output_path,omitempty"`
	Error        string      `json:"error_path,omitempty"`
	BootAttempts int         `json:"boot_attempts"`
	Restarts     int         `json:"restarts"`
	Why          string      `json:"why,omitempty"` // why this node was chosen
	Events       []job.Event `json:"events"`
	// PriorityTerms explain a waiting job's Priority, term by term.
	PriorityTerms []PriorityTerm `json:"priority_terms,omitempty"`
}

// JobList is the answer to GET /v1/jobs.
type JobList struct {
	Jobs []JobInfo `json:"jobs"`
}

// NodeInfo is one row of `bmcq nodes`.
type NodeInfo struct {
	Name       string    `json:"name"`
	State      string    `json:"state"`
	Arch       string    `json:"arch"`
	Kind       string    `json:"kind"`
	Reason     string    `json:"reason,omitempty"`
	Job        uint64    `json:"job,omitempty"`
	Cores      int       `json:"cores"`
	Memory     int64     `json:"memory"`
	Features   []string  `json:"features,omitempty"`
	Partitions []string  `json:"partitions"`
	Protocol   string    `json:"protocol"`
	Power      string    `json:"power,omitempty"` // on/off/unknown as last seen
	Watts      *float64  `json:"watts,omitempty"`
	Since      time.Time `json:"since"`
	Simulated  bool      `json:"simulated,omitempty"`
	// WarmUntil is when an IDLE-ON machine is switched off (zero: kept on
	// until a job needs it), and OffInSeconds the time left then, at the
	// controller's clock.
	WarmUntil    time.Time `json:"warm_until,omitzero"`
	OffInSeconds int64     `json:"off_in_seconds,omitempty"`
}

// NodeList is the answer to GET /v1/nodes.
type NodeList struct {
	Nodes []NodeInfo `json:"nodes"`
}

// DrainRequest is the body of a drain action.
type DrainRequest struct {
	Reason string `json:"reason"`
}

// ActionResult reports what an action did to each job it touched.
type ActionResult struct {
	Jobs []uint64 `json:"jobs"`
}

// Whoami answers GET /v1/ping: the identity the daemon sees.
type Whoami struct {
	UID     uint32 `json:"uid"`
	User    string `json:"user"`
	Admin   bool   `json:"admin"`
	Version string `json:"version"`
}

// Error is every non-2xx body.
type Error struct {
	Error string `json:"error"`
}

// KernelInfo is one row of `bmcq kernels`: what a job may name in `kernel`.
type KernelInfo struct {
	Name        string `json:"name"`
	Arch        string `json:"arch,omitempty"`
	Kernel      string `json:"kernel"`
	Initrd      string `json:"initrd,omitempty"`
	Cmdline     string `json:"cmdline,omitempty"`
	Description string `json:"description,omitempty"`
	Default     bool   `json:"default,omitempty"` // used by jobs that name no kernel
}

// KernelList is the answer to GET /v1/kernels.
type KernelList struct {
	Kernels []KernelInfo `json:"kernels"`
}
