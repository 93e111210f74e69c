package api

import (
	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/job"
)

// QueueRow is what the queue table shows of j, for the plain protocol.
func (j *JobInfo) QueueRow() wire.QueueRow {
	return wire.QueueRow{JobID: j.JobID, Name: j.Name, User: j.User, State: string(j.State), Elapsed: j.Elapsed,
		Node: j.Node, Reason: j.Reason, ExitCode: j.ExitCode, Detail: j.Detail, Simulated: j.Simulated}
}

// JobState is what following j shows, for the plain protocol.
func (j *JobInfo) JobState() wire.JobState {
	s := wire.JobState{JobID: j.JobID, State: string(j.State), Node: j.Node, Simulated: j.Simulated,
		ExitCode: j.ExitCode, Detail: j.Detail, Waiting: j.State.Waiting(), Final: j.State.Final(), Completed: j.State == job.Completed}
	if j.Reason != string(job.ReasonNone) {
		s.Reason = j.Reason
	}
	return s
}
