package bmcq

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/cli"
	"github.com/bmc-sched/bmc/cli/clitest"
)

// queueRows is what the daemon sends for jobs, read back as bmcq reads it.
func queueRows(jobs []api.JobInfo) []wire.QueueRow {
	var buf []byte
	for i := range jobs {
		r := jobs[i].QueueRow()
		buf = wire.AppendRow(buf, &r)
	}
	var rows []wire.QueueRow
	for _, line := range strings.SplitAfter(string(buf), "\n") {
		if line == "" {
			continue
		}
		r, err := wire.ParseRow(strings.TrimSuffix(line, "\n"))
		if err != nil {
			panic(err)
		}
		rows = append(rows, r)
	}
	return rows
}

// tabwriterQueue is the queue table as bmcq printed it with text/tabwriter:
// the oracle RenderQueue's own padding must match.
func tabwriterQueue(w io.Writer, rows []wire.QueueRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOBID\tNAME\tUSER\tSTATE\tTIME\tNODE\tREASON")
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.JobID, trunc(r.Name, 20), r.User, r.State,
			fmtDuration(r.Elapsed), node, queueReason(r))
	}
	tw.Flush()
	if sim {
		fmt.Fprintln(w, "* simulated machine (power/sim), not hardware")
	}
}

func TestRenderQueueLaysOutAsTabwriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 5))
	words := []string{"", "a", "hello", "sweep-long-name-over-twenty-runes", "ünïcødé-näme", "日本語のジョブ", "x_1"}
	states := []string{"PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "NODE_FAIL"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for round := range 200 {
		rows := make([]wire.QueueRow, rng.IntN(30))
		for i := range rows {
			rows[i] = wire.QueueRow{JobID: fmt.Sprint(rng.IntN(100000)), Name: pick(words), User: pick(words), State: pick(states),
				Elapsed: rng.Float64() * 200000, Node: pick(words), Reason: pick([]string{"None", "Priority", "Resources"}),
				ExitCode: rng.IntN(3), Detail: pick(words), Simulated: rng.IntN(4) == 0}
		}
		var got, want bytes.Buffer
		if err := RenderQueue(&got, rows); err != nil {
			t.Fatal(err)
		}
		tabwriterQueue(&want, rows)
		if got.String() != want.String() {
			t.Fatalf("round %d:\n--- got\n%s\n--- tabwriter\n%s", round, got.String(), want.String())
		}
	}
}

// A hostile detail (a job is root on its node) cannot move the cursor or
// break the table's lines.
func TestRenderQueueHostileDetail(t *testing.T) {
	var b bytes.Buffer
	RenderQueue(&b, []wire.QueueRow{{JobID: "1", State: "NODE_FAIL", Reason: "None", Detail: "agent: \x1b[2J\nfake\tline"}})
	if strings.ContainsAny(b.String(), "\x1b\t") || strings.Count(b.String(), "\n") != 2 {
		t.Errorf("%q", b.String())
	}
}

// run executes bmcq with args against d, as the binary would.
func run(t *testing.T, d *clitest.Daemon, args ...string) (string, string, int) {
	t.Helper()
	env, out, errb := clitest.Env(d.Socket, t.TempDir())
	code := cli.Exit(env.Stderr, "bmcq", Run(context.Background(), env, args))
	return out.String(), errb.String(), code
}

func TestQueueCommand(t *testing.T) {
	jobs := load[api.JobList](t, "jobs.json")
	rawJSON, err := os.ReadFile(filepath.Join("testdata", "jobs.json"))
	if err != nil {
		t.Fatal(err)
	}
	d := clitest.Start(t, func(req wire.Request, _ []byte) (wire.Answer, []wire.QueueRow) {
		if req.Op != wire.OpQueue {
			return wire.Answer{Status: 400, Error: "not a queue request"}, nil
		}
		return wire.Answer{Status: 200, Rows: len(jobs.Jobs)}, queueRows(jobs.Jobs)
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != api.PathJobs || r.URL.Query().Get("user") != "alice" {
			http.Error(w, `{"error":"unexpected"}`, 400)
			return
		}
		w.Write(rawJSON)
	}))

	out, errOut, code := run(t, d, "-u", "alice", "-t", "PD,R", "-j", "12_3", "--all")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "queue.txt", []byte(out))
	want := wire.Queue{Users: []string{"alice"}, States: []string{"PD", "R"}, IDs: []string{"12_3"}, All: true}
	if reqs := d.Requests(); len(reqs) != 1 || !reflect.DeepEqual(*reqs[0].Req.Queue, want) {
		t.Errorf("requests %+v, want one queue %+v", reqs, want)
	}

	out, errOut, code = run(t, d, "--json", "-u", "alice")
	if code != 0 || out != string(rawJSON) {
		t.Errorf("--json: exit %d, %s; output is not the daemon's JSON as is", code, errOut)
	}

	out, _, code = run(t, d, "--version")
	if code != 0 || !strings.HasPrefix(out, "bmcq version ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}

func TestQueueCommandErrors(t *testing.T) {
	d := clitest.Start(t, func(wire.Request, []byte) (wire.Answer, []wire.QueueRow) {
		return wire.Answer{Status: 400, Error: `unknown state "ZZ"`}, nil
	}, nil)
	_, errOut, code := run(t, d, "-t", "ZZ")
	if code != 1 || errOut != "bmcq: unknown state \"ZZ\"\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	env, _, errb := clitest.Env(filepath.Join(t.TempDir(), "none.sock"), "/")
	code = cli.Exit(env.Stderr, "bmcq", Run(context.Background(), env, nil))
	if code != 1 || !strings.HasPrefix(errb.String(), "bmcq: cannot reach bmcctld at ") || strings.Count(errb.String(), "\n") != 1 {
		t.Errorf("no daemon: exit %d, %q", code, errb.String())
	}
}
