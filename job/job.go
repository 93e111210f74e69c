package job

import "time"

// State is where a job is in its life cycle. The strings are what users see.
type State string

const (
	Pending     State = "PENDING"
	Held        State = "HELD"
	Allocated   State = "ALLOCATED"
	PoweringOn  State = "POWERING_ON"
	Booting     State = "BOOTING"
	Running     State = "RUNNING"
	PoweringOff State = "POWERING_OFF"
	Completed   State = "COMPLETED"
	Failed      State = "FAILED"
	Cancelled   State = "CANCELLED"
	Timeout     State = "TIMEOUT"
	BootFail    State = "BOOT_FAIL"
	NodeFail    State = "NODE_FAIL"
)

// AllStates lists every state in life-cycle order.
var AllStates = []State{Pending, Held, Allocated, PoweringOn, Booting, Running,
	PoweringOff, Completed, Failed, Cancelled, Timeout, BootFail, NodeFail}

// Final reports whether no further transition can leave s.
func (s State) Final() bool {
	switch s {
	case Completed, Failed, Cancelled, Timeout, BootFail, NodeFail:
		return true
	}
	return false
}

// Active reports whether a job in state s holds a node.
func (s State) Active() bool {
	switch s {
	case Allocated, PoweringOn, Booting, Running, PoweringOff:
		return true
	}
	return false
}

// Waiting reports whether a job in state s is queued (pending or held).
func (s State) Waiting() bool { return s == Pending || s == Held }

// Reason says why a job waits or why it ended the way it did. The names follow
// Slurm's where Slurm has one, so users read them without a manual.
type Reason string

const (
	ReasonNone                     Reason = "None"
	ReasonPriority                 Reason = "Priority"
	ReasonResources                Reason = "Resources"
	ReasonDependency               Reason = "Dependency"
	ReasonDependencyNeverSatisfied Reason = "DependencyNeverSatisfied"
	ReasonHeld                     Reason = "JobHeldUser"
	ReasonHeldAdmin                Reason = "JobHeldAdmin"
	ReasonBeginTime                Reason = "BeginTime"
	ReasonNodeDown                 Reason = "NodeDown"
	ReasonPartition                Reason = "PartitionConfig"
	ReasonArrayTaskLimit           Reason = "JobArrayTaskLimit"
	ReasonAccountEnergyLimit       Reason = "AccountEnergyLimit"
	// ReasonMaxJobs: the user or the account runs as many jobs as its
	// MaxJobs allows (Slurm's AssocMaxJobsLimit).
	ReasonMaxJobs         Reason = "AssocMaxJobsLimit"
	ReasonImageArch       Reason = "ImageArch"
	ReasonBootRetry       Reason = "BootRetry"
	ReasonNodeFailRequeue Reason = "NodeFailRequeued"
	ReasonRequeued        Reason = "Requeued"
	ReasonRecovered       Reason = "Recovered"
	// ReasonBadConstraints: the job asks for something the scheduler never
	// plans (more than one node), e.g. a record from an older release.
	ReasonBadConstraints Reason = "BadConstraints"
	// ReasonBootAborted: the boot met a security conflict and was stopped;
	// the job waits for its next boot, with no attempt counted.
	ReasonBootAborted Reason = "BootAborted"
	// ReasonSecurity marks an event that records a security conflict.
	ReasonSecurity Reason = "SecurityEvent"
)

// Job is the controller's record of one submitted job (or one task of an array).
// It is plain data: the controller changes it only inside a store transaction.
type Job struct {
	ID          uint64 `json:"id"`
	ArrayJobID  uint64 `json:"array_job_id,omitempty"` // id of the array's first task (%A)
	ArrayTaskID int    `json:"array_task_id"`          // -1 outside an array (%a)
	User        string `json:"user"`
	UID         uint32 `json:"uid"`
	GID         uint32 `json:"gid"`
	Cwd         string `json:"cwd,omitempty"` // where relative output paths resolve
	Spec        Spec   `json:"spec"`

	State    State  `json:"state"`
	Reason   Reason `json:"reason"`
	Detail   string `json:"detail,omitempty"` // free text beside Reason, e.g. the BMC error
	Node     string `json:"node,omitempty"`
	ExitCode int    `json:"exit_code"`

	SubmitTime time.Time `json:"submit_time"`
	StartTime  time.Time `json:"start_time,omitzero"` // node allocated
	RunTime    time.Time `json:"run_time,omitzero"`   // command started
	EndTime    time.Time `json:"end_time,omitzero"`

	// Outcome is the final state a job enters once its node is off; it is
	// recorded when POWERING_OFF starts so a restart finishes the same way.
	Outcome State `json:"outcome,omitempty"`
	// HostKey is the node agent's SSH host key, pinned when it reported ready.
	HostKey string `json:"host_key,omitempty"`
	// SSHAddr is where the controller reached the agent.
	SSHAddr string `json:"ssh_addr,omitempty"`

	BootAttempts int `json:"boot_attempts,omitempty"`
	Restarts     int `json:"restarts,omitempty"` // requeues, by user, admin or node failure
	// Boot counts how many times a node was allocated; with the event log it
	// proves that no job ran twice unless it was requeued.
	Boot uint64 `json:"boot,omitempty"`
	// ImageDigest and KernelName are what the current boot really booted
	// (the image's digest, the catalog name or path of the kernel), set
	// when its node is powered on, for the energy ledger.
	ImageDigest string `json:"image_digest,omitempty"`
	KernelName  string `json:"kernel_name,omitempty"`
}

// IsArrayTask reports whether j is one task of an array.
func (j *Job) IsArrayTask() bool { return j.ArrayTaskID >= 0 }

// Event is one line in a job's history: every state change, with its time and reason.
type Event struct {
	Time   time.Time `json:"time"`
	State  State     `json:"state"`
	Reason Reason    `json:"reason,omitempty"`
	Node   string    `json:"node,omitempty"`
	Detail string    `json:"detail,omitempty"`
	// Cause is who or what made the change (see Rules); empty on events
	// written before causes were recorded, and on submit.
	Cause Cause `json:"cause,omitempty"`
}
