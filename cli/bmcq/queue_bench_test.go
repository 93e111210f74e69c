package bmcq

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/job"
)

// benchJobs is a queue like bench/slurm's: 10,000 array tasks, 8 running.
func benchJobs() []api.JobInfo {
	jobs := make([]api.JobInfo, 10000)
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i := range jobs {
		task := i + 1
		j := api.JobInfo{ID: uint64(i + 1), JobID: fmt.Sprintf("1_%d", task), ArrayJobID: 1, ArrayTaskID: &task, Name: "bench-array",
			User: "alice", Partition: "batch", State: job.Pending, Reason: string(job.ReasonPriority), Priority: 0.5,
			TimeLimit: 7200, SubmitTime: t0}
		if i < 8 {
			j.State, j.Reason, j.Node, j.Simulated, j.Elapsed, j.StartTime = job.Running, string(job.ReasonNone), fmt.Sprintf("sim%03d", i+1), true, 42, t0
		}
		jobs[i] = j
	}
	return jobs
}

// The two halves of the old table path: decoding the API's JSON by
// reflection, and text/tabwriter.
func BenchmarkQueueOldJSONDecode(b *testing.B) {
	data, err := json.Marshal(api.JobList{Jobs: benchJobs()})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var l api.JobList
		if err := json.Unmarshal(data, &l); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQueueOldTabwriter(b *testing.B) {
	rows := queueRows(benchJobs())
	for b.Loop() {
		tabwriterQueue(io.Discard, rows)
	}
}

// And of the new one: parsing the plain protocol's rows, and RenderQueue.
func BenchmarkQueueParseRows(b *testing.B) {
	var buf []byte
	jobs := benchJobs()
	for i := range jobs {
		r := jobs[i].QueueRow()
		buf = wire.AppendRow(buf, &r)
	}
	data := string(buf)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		rest := data
		for rest != "" {
			i := strings.IndexByte(rest, '\n')
			if _, err := wire.ParseRow(rest[:i]); err != nil {
				b.Fatal(err)
			}
			rest = rest[i+1:]
		}
	}
}

func BenchmarkQueueRender(b *testing.B) {
	rows := queueRows(benchJobs())
	for b.Loop() {
		if err := RenderQueue(io.Discard, rows); err != nil {
			b.Fatal(err)
		}
	}
}
