package wire

import "errors"

// Magic starts every plain request. No HTTP request starts with it, so one
// socket serves both protocols (Split).
const Magic = "BMC1\n"

// DefaultSocket is where bmcctld listens with its default state dir.
const DefaultSocket = "/var/lib/bmc/bmcctld.sock"

// Limits on what either side reads.
const (
	MaxLine = 1 << 20 // one JSON line
	MaxFile = 1 << 20 // a job file; a real one is a few KiB
)

// Operations.
const (
	OpSubmit = "submit"
	OpWait   = "wait"
	OpQueue  = "queue"
)

// Request is the JSON line after Magic. Exactly the field named by Op is set.
type Request struct {
	Op     string  `json:"op"`
	Submit *Submit `json:"submit,omitempty"`
	Wait   *Wait   `json:"wait,omitempty"`
	Queue  *Queue  `json:"queue,omitempty"`
}

// Submit queues a job file as written: the daemon parses and checks it, and
// its errors name the file and line. Size bytes of the file follow the line.
type Submit struct {
	File      string    `json:"file"` // the path as given: for messages and the default job name
	Cwd       string    `json:"cwd"`  // where relative output paths resolve
	Size      int       `json:"size"`
	Overrides Overrides `json:"overrides,omitzero"`
}

// Overrides are bmcsubmit's flags that replace the file's fields, as typed;
// empty means not given. It has job.Overrides's fields in the same order, so
// the daemon converts one into the other and the compiler keeps them equal.
type Overrides struct {
	Array      string `json:"array,omitempty"`
	Dependency string `json:"dependency,omitempty"`
	Hold       bool   `json:"hold,omitempty"`
	Time       string `json:"time,omitempty"`
	Account    string `json:"account,omitempty"`
	Name       string `json:"name,omitempty"`
	Output     string `json:"output,omitempty"`
	Partition  string `json:"partition,omitempty"`
}

// Wait blocks until job ID leaves state From (or the daemon's poll limit
// passes) and answers the job as it is then.
type Wait struct {
	ID   uint64 `json:"id"`
	From string `json:"from,omitempty"`
}

// Queue lists jobs as the queue table shows them; empty filters match all.
type Queue struct {
	Users  []string `json:"users,omitempty"`
	States []string `json:"states,omitempty"` // names or Slurm's short forms
	IDs    []string `json:"ids,omitempty"`    // "12", "12_3"
	All    bool     `json:"all,omitempty"`    // with jobs that ended long ago
}

// Answer is the daemon's one JSON line.
type Answer struct {
	// Status is an HTTP status code, so both protocols report alike.
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
	// LineError is set when Error already names the file and line.
	LineError bool            `json:"line_error,omitempty"`
	Submitted *SubmitResponse `json:"submitted,omitempty"`
	Job       *JobState       `json:"job,omitempty"`
	// Rows is how many queue rows follow the line.
	Rows int `json:"rows,omitempty"`
}

// SubmitResponse lists the new job ids; an array gets one per task.
type SubmitResponse struct {
	IDs        []uint64 `json:"ids"`
	ArrayJobID uint64   `json:"array_job_id,omitempty"`
}

// JobState is what following a job shows of it.
type JobState struct {
	JobID     string `json:"job_id"`
	State     string `json:"state"`
	Reason    string `json:"reason,omitempty"` // why it waits; empty when there is nothing to say
	Node      string `json:"node,omitempty"`
	Simulated bool   `json:"simulated,omitempty"`
	ExitCode  int    `json:"exit_code"`
	Detail    string `json:"detail,omitempty"`
	Waiting   bool   `json:"waiting,omitempty"`   // pending or held
	Final     bool   `json:"final,omitempty"`     // no further change
	Completed bool   `json:"completed,omitempty"` // ended COMPLETED
}

// ErrDaemon is wrapped by every error that bmcctld itself returned, as
// opposed to failing to reach it.
var ErrDaemon = errors.New("bmcctld")

// StatusError is an error answer from the daemon.
type StatusError struct {
	Code int
	Msg  string
	// Line is set when Msg names the file and line of a job-file problem.
	Line bool
}

func (e *StatusError) Error() string { return e.Msg }
func (e *StatusError) Unwrap() error { return ErrDaemon }
