package apiserver

import (
	"fmt"
	"strings"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/ctld"
)

// Privacy is what other users may not see, like Slurm's PrivateData: with
// Jobs, someone else's job shows only its id, name, user, state, node and
// reason (no command, environment, working directory, output paths,
// account, times, exit code, detail or history); with Accounting, no bill
// or power curve of theirs. A job's owner, its account's coordinators and
// admins see everything.
type Privacy struct {
	Jobs, Accounting bool
}

// DefaultPrivacy keeps both private.
var DefaultPrivacy = Privacy{Jobs: true, Accounting: true}

// ParsePrivacy reads bmcctld --private-data: a comma-separated list of
// "jobs" and "accounting" (what stays private), or "none".
func ParsePrivacy(s string) (Privacy, error) {
	var p Privacy
	for one := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(one) {
		case "jobs":
			p.Jobs = true
		case "accounting":
			p.Accounting = true
		case "none", "":
		default:
			return Privacy{}, fmt.Errorf("--private-data: %q: want a list of jobs, accounting, or none", one)
		}
	}
	return p, nil
}

// SetPrivacy sets what other users may not see (DefaultPrivacy until set).
func (s *Server) SetPrivacy(p Privacy) { s.privacy = p }

// seesAll reports whether who may see every part of a job of user that
// charges account.
func (s *Server) seesAll(who ctld.Identity, user, account string) bool {
	return who.Admin || who.User == user || s.c.Coordinates(who.User, account)
}

// redactJob blanks what who may not see of another's job in place.
func (s *Server) redactJob(who ctld.Identity, in *api.JobInfo) {
	if s.privacy.Jobs && !s.seesAll(who, in.User, in.Account) {
		*in = publicInfo(in)
	}
}

// publicInfo is what anyone may see of a job.
func publicInfo(j *api.JobInfo) api.JobInfo {
	return api.JobInfo{ID: j.ID, JobID: j.JobID, ArrayJobID: j.ArrayJobID, ArrayTaskID: j.ArrayTaskID,
		Name: j.Name, User: j.User, State: j.State, Reason: j.Reason, Node: j.Node, Simulated: j.Simulated}
}

// redactDetail is d as who may see it.
func (s *Server) redactDetail(who ctld.Identity, d api.JobDetail) api.JobDetail {
	if !s.privacy.Jobs || s.seesAll(who, d.User, d.Account) {
		return d
	}
	return api.JobDetail{JobInfo: publicInfo(&d.JobInfo)}
}

// redactAcct drops the bills who may not see.
func (s *Server) redactAcct(who ctld.Identity, l *api.AcctList) {
	if !s.privacy.Accounting {
		return
	}
	kept := l.Jobs[:0]
	for _, j := range l.Jobs {
		if s.seesAll(who, j.User, j.Account) {
			kept = append(kept, j)
		}
	}
	l.Jobs = kept
}

// mayReadBill refuses a power curve of a job who may not see the bill of.
func (s *Server) mayReadBill(who ctld.Identity, id string) error {
	if !s.privacy.Accounting {
		return nil
	}
	d, err := s.c.JobDetail(id)
	if err != nil {
		return err
	}
	if !s.seesAll(who, d.User, d.Account) {
		return fmt.Errorf("%w: job %s belongs to %s; its energy is for its owner, its account's coordinators and admins (bmcctld --private-data)", ctld.ErrForbidden, d.JobID, d.User)
	}
	return nil
}
