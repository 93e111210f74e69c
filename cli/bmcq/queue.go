package bmcq

import (
	"bufio"
	"context"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/cli"
	"github.com/bmc-sched/bmc/job"
)

// listJobs prints the queue. The table comes over the plain protocol as
// compact rows of just its columns; --json copies the API's JSON through.
func listJobs(ctx context.Context, env cli.Env, f *qFlags, w io.Writer) error {
	if f.json {
		filter := api.JobFilter{Users: f.users, States: f.states, All: f.all, IDs: f.jobs}
		return client(env, f.socket).JobsTo(ctx, filter, w)
	}
	rows, err := wire.NewClient(env.Socket(f.socket)).Queue(ctx, wire.Queue{Users: f.users, States: f.states, IDs: f.jobs, All: f.all})
	if err != nil {
		return err
	}
	return RenderQueue(w, rows)
}

var queueHeader = [...]string{"JOBID", "NAME", "USER", "STATE", "TIME", "NODE", "REASON"}

// RenderQueue prints the queue table: columns two spaces apart, as
// text/tabwriter would lay them out (widths in runes, the last column not
// padded). It pads them itself because tabwriter took most of bmcq's time
// at 10,000 jobs.
func RenderQueue(w io.Writer, rows []wire.QueueRow) error {
	const cols = len(queueHeader)
	cells := make([][cols]string, len(rows)+1)
	cells[0] = queueHeader
	sim := false
	for i := range rows {
		r := &rows[i]
		node := r.Node
		if node == "" {
			node = "-"
		}
		if r.Simulated {
			node += "*"
			sim = true
		}
		cells[i+1] = [cols]string{printable(r.JobID), printable(trunc(r.Name, 20)), printable(r.User), printable(r.State),
			fmtDuration(r.Elapsed), printable(node), printable(queueReason(r))}
	}
	var width [cols - 1]int
	for i := range cells {
		for k := range width {
			width[k] = max(width[k], utf8.RuneCountInString(cells[i][k]))
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	const spaces = "                                                                "
	for i := range cells {
		for k := range width {
			bw.WriteString(cells[i][k])
			for pad := width[k] - utf8.RuneCountInString(cells[i][k]) + 2; pad > 0; pad -= len(spaces) {
				bw.WriteString(spaces[:min(pad, len(spaces))])
			}
		}
		bw.WriteString(cells[i][cols-1])
		bw.WriteByte('\n')
	}
	if sim {
		bw.WriteString("* simulated machine (power/sim), not hardware\n")
	}
	return bw.Flush()
}

// queueReason is why a job waits, or for one that ended badly, how.
func queueReason(r *wire.QueueRow) string {
	if r.Reason != string(job.ReasonNone) {
		return r.Reason
	}
	st := job.State(r.State)
	switch {
	case !st.Final() || st == job.Completed:
		return "-"
	case st == job.Failed:
		return "ExitCode=" + strconv.Itoa(r.ExitCode)
	case r.Detail == "":
		return "-"
	}
	return trunc(r.Detail, 60)
}
