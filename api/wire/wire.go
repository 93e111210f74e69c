package wire

import "errors"

// Magic starts every plain request. No HTTP request starts with it, so one
// socket serves both protocols (Split).
const Magic = "BMC1\n"

// DefaultSocket is where bmcctld listens with its default state dir.
const DefaultSocket = "/var/lib/bmc/bmcctld.sock"

// Limits on what either side reads.
const (
	MaxLine = 1 << 20 // a header, and one line of it
	MaxFile = 1 << 20 // a job file; a real one is a few KiB
)

// Operations.
const (
	OpSubmit = "submit"
	OpWait   = "wait"
	OpQueue  = "queue"
)

// Request is the header after Magic. Exactly the field named by Op is set.
type Request struct {
	Op     string
	Submit *Submit
	Wait   *Wait
	Queue  *Queue
}

// Submit queues a job file as written: the daemon parses and checks it, and
// its errors name the file and line. Size bytes of the file follow the header.
type Submit struct {
	File      string // the path as given: for messages and the default job name
	Cwd       string // where relative output paths resolve
	Size      int
	Overrides Overrides
	// Greenest asks the daemon to begin the job at the lowest-carbon
	// start within Deadline (a duration as bmcsubmit --deadline took it).
	Greenest bool
	Deadline string
}

// Overrides are bmcsubmit's flags that replace the file's fields, as typed;
// empty means not given. It has job.Overrides's fields in the same order, so
// the daemon converts one into the other and the compiler keeps them equal.
type Overrides struct {
	Array      string
	Dependency string
	Hold       bool
	Time       string
	Account    string
	Name       string
	Output     string
	Partition  string
}

// Wait blocks until job ID leaves state From (or the daemon's poll limit
// passes) and answers the job as it is then.
type Wait struct {
	ID   uint64
	From string
}

// Queue lists jobs as the queue table shows them; empty filters match all.
type Queue struct {
	Users  []string
	States []string // names or Slurm's short forms
	IDs    []string // "12", "12_3"
	All    bool     // with jobs that ended long ago
}

// Answer is the daemon's header.
type Answer struct {
	// Status is an HTTP status code, so both protocols report alike.
	Status int
	Error  string
	// LineError is set when Error already names the file and line.
	LineError bool
	Submitted *SubmitResponse
	Job       *JobState
	// Rows is how many queue rows follow the header.
	Rows int
}

// SubmitResponse lists the new job ids; an array gets one per task. The
// HTTP API answers a submit with it too (as JSON).
type SubmitResponse struct {
	IDs        []uint64 `json:"ids"`
	ArrayJobID uint64   `json:"array_job_id,omitempty"`
	// Note tells the user something the daemon decided for the job (the
	// begin time --when-greenest chose); Warnings what they should know
	// (an energy budget at 80 % or 100 %). One line each.
	Note     string   `json:"note,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// JobState is what following a job shows of it.
type JobState struct {
	JobID     string
	State     string
	Reason    string // why it waits; empty when there is nothing to say
	Node      string
	Simulated bool
	ExitCode  int
	Detail    string
	Waiting   bool // pending or held
	Final     bool // no further change
	Completed bool // ended COMPLETED
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
