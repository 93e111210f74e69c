package job

import "time"

// Spec is a job file after parsing and validation. Field names in TOML are the
// snake_case tags; the JSON form is what the API and the store carry.
type Spec struct {
	Name        string            `json:"name,omitempty"`
	Image       string            `json:"image"`
	Kernel      string            `json:"kernel,omitempty"`
	Initrd      string            `json:"initrd,omitempty"`
	Cmdline     string            `json:"cmdline,omitempty"`
	Command     Command           `json:"command"`
	Arch        string            `json:"arch,omitempty"` // "x86_64", "aarch64", "any" or empty (= any)
	Features    []string          `json:"features,omitempty"`
	Cores       int               `json:"cores,omitempty"`
	Memory      Size              `json:"memory,omitempty"` // bytes
	Nodes       int               `json:"nodes"`
	TimeLimit   Duration          `json:"time_limit"`
	Account     string            `json:"account,omitempty"`
	Partition   string            `json:"partition,omitempty"`
	Nice        int               `json:"nice,omitempty"`
	Output      string            `json:"output,omitempty"` // path pattern, %A %a %j %u %x %N
	Error       string            `json:"error,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
	RunAs       string            `json:"user,omitempty"` // user inside the image
	Array       *ArraySpec        `json:"array,omitempty"`
	DependsOn   []Dependency      `json:"depends_on,omitempty"`
	Hold        bool              `json:"hold,omitempty"`
	// NoReuse (reuse = false in the job file) asks for a power cycle
	// before and after the job: its machine is never handed on warm, nor
	// taken warm from the user's previous job.
	NoReuse  bool      `json:"no_reuse,omitempty"`
	Begin    time.Time `json:"begin,omitzero"`
	Schedule string    `json:"schedule,omitempty"` // cron expression for recurring jobs
	Sim      *SimSpec  `json:"sim,omitempty"`
	// ImageArchs are the architectures the image offers, filled in by the
	// controller at submit (never read from a job file); empty = unknown,
	// any node may try.
	ImageArchs []string `json:"image_archs,omitempty"`
	// ImageDigest is what the image named when the controller checked it
	// at submit (never read from a job file): boots pull a registry image
	// by it, and a path image must still have it.
	ImageDigest string `json:"image_digest,omitempty"`
}

// Command is what runs inside the image. A TOML string runs through /bin/sh -c;
// a TOML array is an argv executed directly.
type Command struct {
	Shell bool     `json:"shell,omitempty"`
	Argv  []string `json:"argv"`
}

// Duration is a time span written like Slurm's --time ("90" minutes, "1:30:00",
// "2-00:00:00") or Go's ("90m", "2h").
type Duration time.Duration

// Size is a byte count written as a number of MiB or with a unit ("512M", "4G").
type Size int64

// ArraySpec is a job array: explicit task ids and how many may run at once.
type ArraySpec struct {
	Text        string `json:"text"`          // as written, e.g. "1-100%10"
	Tasks       []int  `json:"tasks"`         // sorted, unique
	MaxParallel int    `json:"max,omitempty"` // 0 = unlimited
}

// DepType is the condition of a dependency, as in Slurm.
type DepType string

const (
	AfterOK    DepType = "afterok"
	AfterAny   DepType = "afterany"
	AfterNotOK DepType = "afternotok"
	After      DepType = "after" // the other job has started
	Singleton  DepType = "singleton"
)

// Dependency is one condition on another job (JobID is zero for singleton).
type Dependency struct {
	Type  DepType `json:"type"`
	JobID uint64  `json:"job_id,omitempty"`
}

// SimSpec is read only by simulated machines: how long the command "runs",
// how hard it loads the machine (0..1) and the exit status it ends with.
type SimSpec struct {
	Runtime  Duration `json:"runtime"`
	Load     float64  `json:"load"`
	ExitCode int      `json:"exit_code,omitempty"`
}
