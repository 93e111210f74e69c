package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// TestFIFOOutput: uid 65534 points its output at a FIFO. Known at submit,
// it is refused with one line; made after submit, the job fails with the
// reason and its node is free again, whether or not something holds the
// FIFO open. Cancel and requeue still work, and SIGTERM still stops
// bmcctld (the harness fails the test when it does not).
func TestFIFOOutput(t *testing.T) {
	dir := workDir(t)
	d := startDaemon(t, t.TempDir(), "--sim", "1")
	c := api.NewClient(d.sock)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fifo := filepath.Join(dir, "out.fifo")
	if err := unix.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chown(fifo, hostile, hostile)
	write(t, filepath.Join(dir, "fifo.toml"), "output = \"out.fifo\"\n"+fmt.Sprintf(simJob, "fifo", "1s", 0))
	r := d.run(hostile, dir, "bmcsubmit", "fifo.toml")
	want := "bmcsubmit: output: " + fifo + " is a FIFO; output goes only to a regular file or a new one\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("FIFO at submit: exit %d %q, want %q", r.code, r.stderr, want)
	}

	// The FIFO appears after submit, once with a reader that never reads.
	write(t, filepath.Join(dir, "late.toml"), "output = \"late-%j.out\"\n"+fmt.Sprintf(simJob, "late", "1s", 0))
	for _, reader := range []bool{false, true} {
		id := submitHeld(t, d, dir, "late.toml")
		p := filepath.Join(dir, "late-"+id+".out")
		if err := unix.Mkfifo(p, 0o666); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, hostile, hostile) // the user made it
		if reader {
			f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
		}
		d.mustRun(hostile, dir, "bmcq", "release", id)
		j := waitState(ctx, t, c, id, job.Failed)
		if !strings.Contains(j.Detail, p+" is a FIFO; output goes only to a regular file or a new one") {
			t.Errorf("reader %v: job %s failed with %q", reader, id, j.Detail)
		}
	}
	if n := d.nodes(ctx, c); n != "IDLE" {
		t.Errorf("the node is %s after the failed jobs", n)
	}

	// Cancel and requeue of a running job with a regular output file.
	write(t, filepath.Join(dir, "long.toml"), fmt.Sprintf(simJob, "long", "1h", 0))
	id := strings.TrimSpace(d.mustRun(hostile, dir, "bmcsubmit", "--parsable", "long.toml"))
	waitState(ctx, t, c, id, job.Running)
	d.mustRun(hostile, dir, "bmcq", "requeue", id)
	// The requeue stops the command asynchronously: the job may still read
	// RUNNING from its first run; wait for the second.
	for j := waitState(ctx, t, c, id, job.Running); j.Restarts == 0; j = waitState(ctx, t, c, id, job.Running) {
		if _, err := c.WaitChange(ctx, j.ID, string(j.State)); err != nil {
			t.Fatal(err)
		}
	}
	d.mustRun(hostile, dir, "bmcq", "cancel", id)
	waitState(ctx, t, c, id, job.Cancelled)
}

func submitHeld(t *testing.T, d *daemon, dir, file string) string {
	t.Helper()
	return strings.TrimSpace(d.mustRun(hostile, dir, "bmcsubmit", "--parsable", "--hold", file))
}

func (d *daemon) mustRun(uid uint32, dir, name string, args ...string) string {
	d.t.Helper()
	r := d.run(uid, dir, name, args...)
	if r.code != 0 {
		d.t.Fatalf("%s %v as uid %d: exit %d: %s", name, args, uid, r.code, r.stderr)
	}
	return r.stdout
}

// nodes is the state of the cluster's only node.
func (d *daemon) nodes(ctx context.Context, c *api.Client) string {
	l, err := c.Nodes(ctx)
	if err != nil || len(l.Nodes) != 1 {
		d.t.Fatalf("nodes: %v %v", l, err)
	}
	return string(l.Nodes[0].State)
}

// waitState follows job id until it is in state want; a final state that
// is not want fails the test.
func waitState(ctx context.Context, t *testing.T, c *api.Client, id string, want job.State) api.JobDetail {
	t.Helper()
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		t.Fatalf("job id %q", id)
	}
	d, err := c.Job(ctx, id)
	for err == nil && d.State != want {
		if d.State.Final() {
			t.Fatalf("job %s is %s (%s), want %s", id, d.State, d.Detail, want)
		}
		d, err = c.WaitChange(ctx, n, string(d.State))
	}
	if err != nil {
		t.Fatalf("job %s: waiting for %s: %v", id, want, err)
	}
	return d
}
