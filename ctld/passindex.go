package ctld

import (
	"github.com/bmc-sched/bmc/job"
)

// passIndex keeps the jobs a scheduling pass has to look at, so that a pass
// costs what the startable queue costs and not what every queued job costs.
// A held job cannot start until it is released, and a pending job whose
// dependencies wait cannot start until some job starts or ends; walking
// thousands of them in every pass made the daemon's CPU per submit grow with
// the queue (bench/slurm, issue 13).
//
// Every record the controller publishes goes through publish; the maps hold
// the same immutable records as Controller.jobs.
type passIndex struct {
	live   map[uint64]*job.Job // pending (not parked) and active jobs
	held   map[uint64]*job.Job
	parked map[uint64]parkedJob // pending, dependencies waiting as of the last pass
	// gen counts job starts and ends, the only changes that can make a
	// waiting dependency met (or never met); a pass parks a job only if no
	// such change happened since its snapshot.
	gen uint64
}

// parkedJob keeps what bmcq shows of a parked job: its reason is Dependency,
// its priority the one of the pass that parked it.
type parkedJob struct {
	j    *job.Job
	prio float64
}

func newPassIndex() passIndex {
	return passIndex{live: map[uint64]*job.Job{}, held: map[uint64]*job.Job{}, parked: map[uint64]parkedJob{}}
}

// publish files j's new record (old is its previous one, nil for a new job)
// and reports whether parked jobs went back to the pass.
func (x *passIndex) publish(old, j *job.Job) bool {
	delete(x.live, j.ID)
	delete(x.held, j.ID)
	delete(x.parked, j.ID)
	switch {
	case j.State.Final():
	case j.State == job.Held:
		x.held[j.ID] = j
	default:
		x.live[j.ID] = j
	}
	if old == nil || (old.State.Active() == j.State.Active() && old.State.Final() == j.State.Final()) {
		return false
	}
	x.gen++
	if len(x.parked) == 0 {
		return false
	}
	for id, p := range x.parked {
		x.live[id] = p.j
	}
	clear(x.parked)
	return true
}

// park takes a pending job out of the passes until the next start or end.
// It does nothing if the job's record changed since the snapshot, or if a
// job started or ended since (gen is the snapshot's).
func (x *passIndex) park(j *job.Job, prio float64, gen uint64) {
	if gen != x.gen || x.live[j.ID] != j || j.State != job.Pending {
		return
	}
	delete(x.live, j.ID)
	x.parked[j.ID] = parkedJob{j: j, prio: prio}
}

// jobs is what a pass sees: every live job, plus the held and parked jobs
// that a dependency of a pending job in the pass names (the scheduler
// reads a dependency on a job it is not shown as never met), or all of them
// when a singleton dependency is in play (a singleton waits for every earlier
// job of its user and name, held ones included). byArray lists an array's
// tasks, which a dependency on the array's id names.
func (x *passIndex) jobs(byArray map[uint64][]uint64) []*job.Job {
	out := make([]*job.Job, 0, len(x.live))
	var todo []*job.Job
	for _, j := range x.live {
		out = append(out, j)
		if j.State == job.Pending && len(j.Spec.DependsOn) > 0 {
			todo = append(todo, j)
		}
	}
	if len(todo) == 0 || len(x.held)+len(x.parked) == 0 {
		return out
	}
	added := map[uint64]bool{}
	add := func(id uint64) {
		if added[id] {
			return
		}
		j := x.held[id]
		if p, ok := x.parked[id]; ok {
			j = p.j
		}
		if j == nil {
			return
		}
		added[id] = true
		out = append(out, j)
		if j.State == job.Pending && len(j.Spec.DependsOn) > 0 {
			todo = append(todo, j)
		}
	}
	singles := false
	for len(todo) > 0 {
		j := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for _, d := range j.Spec.DependsOn {
			if d.Type == job.Singleton {
				singles = true
				continue
			}
			add(d.JobID)
			for _, t := range byArray[d.JobID] {
				add(t)
			}
		}
	}
	if singles {
		for id := range x.held {
			add(id)
		}
		for id := range x.parked {
			add(id)
		}
	}
	return out
}
