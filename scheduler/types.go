// Package scheduler makes the pure scheduling decisions: from a snapshot of
// jobs, nodes and the time, it computes priorities, checks constraints,
// applies EASY backfill and returns a plan — which job goes to which machine,
// and the reason every other pending job waits. It does no I/O and never reads
// the clock: time comes in the snapshot, so any decision can be replayed.
package scheduler

import (
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// Config holds the priority weights and limits. Priority = age + size +
// fair share + nice:
//
//	AgeWeight * min(wait, AgeMax)/AgeMax
//	+ SizeWeight * (requested cores / largest node's cores)
//	+ FairShareWeight * the account's fair-share factor (Snapshot.FairShare)
//	- NiceWeight * nice/10000   (nice ranges -10000..10000 like Slurm)
type Config struct {
	AgeWeight  float64       `json:"age_weight"`
	AgeMax     time.Duration `json:"age_max"`
	SizeWeight float64       `json:"size_weight"`
	NiceWeight float64       `json:"nice_weight"`
	// FairShareWeight weighs the fair-share factor (0..1) of the job's
	// account, from the energy it used (package assoc).
	FairShareWeight float64 `json:"fair_share_weight"`
	// DefaultTimeLimit applies to jobs that give none (backfill needs one).
	DefaultTimeLimit time.Duration `json:"default_time_limit"`
	// DefaultPartition is the partition of jobs and nodes that name none.
	DefaultPartition string `json:"default_partition"`
	// Backfill turns EASY backfill on.
	Backfill bool `json:"backfill"`
	// PreferWaitMax is how long a job with a preferred machine kind
	// (Snapshot.Prefer) waits for a node of that kind before it takes any
	// feasible node; 0 means it never waits for one.
	PreferWaitMax time.Duration `json:"prefer_wait_max"`
}

// DefaultConfig is what bmcctld uses when the admin sets nothing.
func DefaultConfig() Config {
	return Config{
		AgeWeight: 1000, AgeMax: 7 * 24 * time.Hour,
		SizeWeight: 1000, NiceWeight: 1000, FairShareWeight: 1000,
		DefaultTimeLimit: time.Hour, DefaultPartition: "batch", Backfill: true,
		PreferWaitMax: 10 * time.Minute,
	}
}

// Snapshot is everything one scheduling pass may look at. It is read-only:
// Schedule never changes it.
type Snapshot struct {
	Now   time.Time
	Jobs  []*job.Job   // every non-final job, waiting or active
	Nodes []*node.Node // every node
	// Done holds the final state of jobs no longer in Jobs that dependencies
	// may name. A dependency on an id in neither Jobs nor Done can never be met.
	// A dependency on an array's ArrayJobID names all its tasks: those still
	// in Jobs, plus Done[ArrayJobID], which should hold the outcome of the
	// array's finished tasks (COMPLETED only if all of them completed).
	Done map[uint64]job.State
	// ExpectedEnd of active jobs, if the controller knows better than
	// start + time limit (e.g. from boot progress); optional.
	ExpectedEnd map[uint64]time.Time
	// Blocked holds jobs the controller keeps waiting for a reason of its own
	// (e.g. AccountEnergyLimit); Schedule reports that reason and skips them.
	Blocked map[uint64]job.Reason
	// Prefer holds the machine kind (node.Node.Kind) the controller
	// predicts suits a job best, e.g. the fewest joules for the same image
	// and command. The job takes a free node of that kind when there is
	// one, else waits for one up to Config.PreferWaitMax since submit.
	Prefer map[uint64]Preference
	// Energy holds the energy budgets (quotas) jobs draw on; nil: none.
	// A job starts only if its expected energy fits what every budget it
	// draws on has left, else waits with AccountEnergyLimit.
	Energy *EnergyBudgets
	// FairShare is each account's fair-share factor (0..1); an account
	// missing has none. Config.FairShareWeight weighs it.
	FairShare map[string]float64
}

// Preference is one job's preferred machine kind and why.
type Preference struct {
	Kind string `json:"kind"`
	// Reason starts Assignment.Why when the job is placed on that kind,
	// e.g. "energy: sim-arm used 1,234 J on average ... vs 2,345 J on sim-x86".
	Reason string `json:"reason"`
}

// Assignment gives one job one node. Jobs run on one machine each: one that
// asks for more (Spec.Nodes > 1, refused at submit; an older record) is never
// placed and waits with ReasonBadConstraints.
type Assignment struct {
	JobID uint64 `json:"job_id"`
	Node  string `json:"node"`
	// Why says in one line why this node was chosen (shown by bmcq show).
	Why string `json:"why"`
	// Backfilled is true when the job started ahead of a higher-priority one.
	Backfilled bool `json:"backfilled,omitempty"`
	// Reuse is set when the node is warm from the same user's last job
	// and is handed on without a power cycle (reuse.go).
	Reuse ReuseKind `json:"reuse,omitempty"`
	// ReserveJ is the energy the job reserves on its budgets while it
	// runs (Snapshot.Energy), in joules; 0 without budgets.
	ReserveJ float64 `json:"reserve_joules,omitempty"`
}

// Plan is the outcome of one pass.
type Plan struct {
	Assignments []Assignment
	// Reasons says why each waiting job that got no node waits.
	Reasons map[uint64]job.Reason
	// Priority of every waiting job, for bmcq.
	Priority map[uint64]float64
	// Reservation is the start time EASY backfill promised the top job, if any.
	Reservation map[uint64]time.Time
}
