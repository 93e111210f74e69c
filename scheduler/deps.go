package scheduler

import (
	"time"

	"github.com/bmc-sched/bmc/job"
)

// depStatus is the outcome of a job's dependencies.
type depStatus int

const (
	depMet depStatus = iota
	depWait
	depNever
)

// index holds the lookups that dependencies, array limits and singletons need.
// A pass builds only the parts some waiting job uses.
type index struct {
	byID       map[uint64]*job.Job
	arrayTasks map[uint64][]*job.Job // ArrayJobID -> its tasks still in Jobs
	arrayRun   map[uint64]int        // ArrayJobID -> active tasks (incl. placed this pass)
	singles    map[userName]*single
}

type userName struct{ user, name string }

// single tracks one user+name for singleton dependencies. As in Slurm, a
// singleton job waits for every earlier-submitted job of that user and name,
// waiting or started, whether or not that job is a singleton itself: jobs of
// one name then run one at a time in submit order.
type single struct {
	active int // started and not final, incl. placed this pass
	// The earliest-submitted waiting job of that user+name; only it may start.
	firstSubmit time.Time
	firstID     uint64
}

func earlier(at time.Time, id uint64, than time.Time, thanID uint64) bool {
	if c := at.Compare(than); c != 0 {
		return c < 0
	}
	return id < thanID
}

// build indexes jobs for the dependency targets in depIDs (only those: a map
// of every job would cost more than the rest of the pass), for array limits
// and for singletons.
func (x *index) build(jobs []*job.Job, depIDs map[uint64]struct{}, arrays, singles bool) {
	deps := len(depIDs) > 0
	if deps {
		x.byID = make(map[uint64]*job.Job, len(depIDs))
		x.arrayTasks = make(map[uint64][]*job.Job)
	}
	if arrays {
		x.arrayRun = make(map[uint64]int)
	}
	if singles {
		x.singles = make(map[userName]*single)
	}
	for _, j := range jobs {
		if deps {
			if _, ok := depIDs[j.ID]; ok {
				x.byID[j.ID] = j
			}
			if _, ok := depIDs[j.ArrayJobID]; ok && j.ArrayJobID != 0 {
				x.arrayTasks[j.ArrayJobID] = append(x.arrayTasks[j.ArrayJobID], j)
			}
		}
		if arrays && j.ArrayJobID != 0 && j.State.Active() {
			x.arrayRun[j.ArrayJobID]++
		}
		if singles {
			k := userName{j.User, j.Spec.Name}
			sg := x.singles[k]
			if sg == nil {
				sg = &single{}
				x.singles[k] = sg
			}
			switch {
			case j.State.Active():
				sg.active++
			case j.State.Waiting():
				if sg.firstID == 0 || earlier(j.SubmitTime, j.ID, sg.firstSubmit, sg.firstID) {
					sg.firstSubmit, sg.firstID = j.SubmitTime, j.ID
				}
			}
		}
	}
}

// started notes that j got nodes in this pass, for later array and singleton checks.
func (x *index) started(j *job.Job) {
	if x.arrayRun != nil && j.ArrayJobID != 0 {
		x.arrayRun[j.ArrayJobID]++
	}
	if x.singles != nil {
		if sg := x.singles[userName{j.User, j.Spec.Name}]; sg != nil {
			sg.active++
		}
	}
}

// deps evaluates all of j's dependencies; they must all hold (Slurm's ",").
func (x *index) deps(j *job.Job, done map[uint64]job.State) depStatus {
	st := depMet
	for _, d := range j.Spec.DependsOn {
		var r depStatus
		if d.Type == job.Singleton {
			r = x.singleton(j)
		} else {
			r = x.dep(d, done)
		}
		if r > st {
			st = r
		}
		if st == depNever {
			break
		}
	}
	return st
}

func (x *index) singleton(j *job.Job) depStatus {
	sg := x.singles[userName{j.User, j.Spec.Name}]
	if sg == nil {
		return depMet
	}
	if sg.active > 0 {
		return depWait
	}
	if sg.firstID != 0 && sg.firstID != j.ID && earlier(sg.firstSubmit, sg.firstID, j.SubmitTime, j.ID) {
		return depWait
	}
	return depMet
}

// depAcc folds the states of the jobs a dependency names.
type depAcc struct {
	n, final, completed, failed, started int
}

func (a *depAcc) add(s job.State) {
	a.n++
	if s.Final() {
		a.final++
		if s == job.Completed {
			a.completed++
		} else {
			a.failed++
		}
	}
	if s.Final() || s.Active() {
		a.started++
	}
}

func (x *index) dep(d job.Dependency, done map[uint64]job.State) depStatus {
	var a depAcc
	// An array's id names every task of the array. Tasks already gone from
	// Jobs are known only through Done[ArrayJobID], which the controller keeps
	// as the array's outcome.
	for _, t := range x.arrayTasks[d.JobID] {
		a.add(t.State)
	}
	if a.n == 0 {
		if t := x.byID[d.JobID]; t != nil {
			a.add(t.State)
		}
	}
	if s, ok := done[d.JobID]; ok && (a.n == 0 || len(x.arrayTasks[d.JobID]) > 0) {
		if _, inJobs := x.byID[d.JobID]; !inJobs {
			a.add(s)
		}
	}
	if a.n == 0 {
		return depNever // names no job we know of
	}
	all := a.final == a.n
	switch d.Type {
	case job.AfterOK:
		if a.failed > 0 {
			return depNever
		}
		if all {
			return depMet
		}
	case job.AfterAny:
		if all {
			return depMet
		}
	case job.AfterNotOK:
		if all {
			if a.failed > 0 {
				return depMet
			}
			return depNever
		}
	case job.After:
		if a.started == a.n {
			return depMet
		}
	default:
		return depNever // validation lets no other type through
	}
	return depWait
}
