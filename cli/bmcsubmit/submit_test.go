package bmcsubmit

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/cli"
	"github.com/bmc-sched/bmc/cli/clitest"
)

const jobFile = "image = \"busybox\"\ncommand = \"true\"\n"

// run executes bmcsubmit with args in dir against d, as the binary would.
func run(t *testing.T, d *clitest.Daemon, dir string, args ...string) (string, string, int) {
	t.Helper()
	env, out, errb := clitest.Env(d.Socket, dir)
	code := cli.Exit(env.Stderr, "bmcsubmit", Run(context.Background(), env, args))
	return out.String(), errb.String(), code
}

func writeJob(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "job.toml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSubmit(t *testing.T) {
	d := clitest.Start(t, func(req wire.Request, body []byte) (wire.Answer, []wire.QueueRow) {
		if req.Submit.Overrides.Array != "" {
			return wire.Answer{Status: 201, Submitted: &wire.SubmitResponse{IDs: []uint64{8, 9}, ArrayJobID: 8}}, nil
		}
		return wire.Answer{Status: 201, Submitted: &wire.SubmitResponse{IDs: []uint64{7}}}, nil
	}, nil)
	dir := writeJob(t, jobFile)
	for _, tc := range []struct {
		args []string
		out  string
		o    wire.Overrides
	}{
		{[]string{"job.toml"}, "Submitted job 7\n", wire.Overrides{}},
		{[]string{"--parsable", "job.toml"}, "7\n", wire.Overrides{}},
		{[]string{"--parsable", "-a", "1-2%1", "job.toml"}, "8\n", wire.Overrides{Array: "1-2%1"}},
		{[]string{"-d", "afterok:3", "-H", "-t", "5", "-A", "phys", "-J", "named", "-o", "out-%j", "-p", "big", "job.toml"}, "Submitted job 7\n",
			wire.Overrides{Dependency: "afterok:3", Hold: true, Time: "5", Account: "phys", Name: "named", Output: "out-%j", Partition: "big"}},
		{[]string{"--name", "other", "job.toml"}, "Submitted job 7\n", wire.Overrides{Name: "other"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			before := len(d.Requests())
			out, errOut, code := run(t, d, dir, tc.args...)
			if code != 0 || out != tc.out || errOut != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %q", code, out, errOut, tc.out)
			}
			reqs := d.Requests()[before:]
			want := wire.Submit{File: "job.toml", Cwd: dir, Size: len(jobFile), Overrides: tc.o}
			if len(reqs) != 1 || !reflect.DeepEqual(*reqs[0].Req.Submit, want) || string(reqs[0].Body) != jobFile {
				t.Errorf("sent %+v, want %+v with the file", reqs, want)
			}
		})
	}
}

// Every problem is one line on stderr, exit 1: a job-file problem as the
// daemon words it (file:line: field), the rest after the program's name.
func TestSubmitErrors(t *testing.T) {
	d := clitest.Start(t, func(req wire.Request, body []byte) (wire.Answer, []wire.QueueRow) {
		if req.Submit.Overrides.Time != "" {
			return wire.Answer{Status: 400, Error: "--time: \"2x\" is not a duration"}, nil
		}
		return wire.Answer{Status: 400, Error: "job.toml:3: imag: unknown field; did you mean image?\njob.toml:4: x: unknown field", LineError: true}, nil
	}, nil)
	dir := writeJob(t, jobFile)
	big := writeJob(t, strings.Repeat("#", wire.MaxFile+1))
	for _, tc := range []struct {
		dir  string
		args []string
		want string
	}{
		{dir, []string{"job.toml"}, "job.toml:3: imag: unknown field; did you mean image?\n"},
		{dir, []string{"-t", "2x", "job.toml"}, "bmcsubmit: --time: \"2x\" is not a duration\n"},
		{dir, []string{"nope.toml"}, "bmcsubmit: nope.toml: no such file or directory\n"},
		{big, []string{"job.toml"}, "bmcsubmit: job.toml: larger than 1048576 bytes; a job file is a few KiB\n"},
		{dir, []string{}, "bmcsubmit: want one job file, got 0 arguments (bmcsubmit [flags] JOB.toml; --help for more)\n"},
		{dir, []string{"a.toml", "b.toml"}, "bmcsubmit: want one job file, got 2 arguments (bmcsubmit [flags] JOB.toml; --help for more)\n"},
		{dir, []string{"--colour", "job.toml"}, "bmcsubmit: unknown flag: --colour\n"},
	} {
		before := len(d.Requests())
		out, errOut, code := run(t, d, tc.dir, tc.args...)
		if code != 1 || errOut != tc.want || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", tc.args, code, out, errOut, tc.want)
		}
		if strings.HasPrefix(tc.want, "bmcsubmit: nope") && len(d.Requests()) != before {
			t.Errorf("%v reached the daemon", tc.args)
		}
	}
	env, _, errb := clitest.Env(filepath.Join(t.TempDir(), "none.sock"), dir)
	code := cli.Exit(env.Stderr, "bmcsubmit", Run(context.Background(), env, []string{"job.toml"}))
	if code != 1 || !strings.HasPrefix(errb.String(), "bmcsubmit: cannot reach bmcctld at ") {
		t.Errorf("no daemon: exit %d, %q", code, errb.String())
	}
}

// --wait shows each phase once and exits with the job's exit status.
func TestSubmitWait(t *testing.T) {
	phases := []wire.JobState{
		{JobID: "7", State: "PENDING", Reason: "Priority", Waiting: true},
		{JobID: "7", State: "PENDING", Reason: "Priority", Waiting: true}, // the daemon's poll limit passed
		{JobID: "7", State: "RUNNING", Node: "sim001", Simulated: true},
		{JobID: "7", State: "FAILED", Node: "sim001", Simulated: true, ExitCode: 7, Detail: "exit status 7", Final: true},
	}
	var froms []string
	d := clitest.Start(t, func(req wire.Request, body []byte) (wire.Answer, []wire.QueueRow) {
		if req.Op == wire.OpSubmit {
			return wire.Answer{Status: 201, Submitted: &wire.SubmitResponse{IDs: []uint64{7}}}, nil
		}
		if req.Wait.ID != 7 || len(froms) >= len(phases) {
			return wire.Answer{Status: http.StatusNotFound, Error: "no such job"}, nil
		}
		froms = append(froms, req.Wait.From)
		js := phases[len(froms)-1]
		return wire.Answer{Status: 200, Job: &js}, nil
	}, nil)
	out, errOut, code := run(t, d, writeJob(t, jobFile), "--wait", "job.toml")
	want := "job 7: PENDING (Priority)\njob 7: RUNNING on sim001 (simulated)\njob 7: FAILED on sim001 (simulated), exit 7: exit status 7\n" +
		"bmcsubmit: job 7 ended FAILED: exit status 7\n"
	if code != 7 || out != "Submitted job 7\n" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", code, out, errOut, want)
	}
	if !reflect.DeepEqual(froms, []string{"", "PENDING", "PENDING", "RUNNING"}) {
		t.Errorf("waited from %q", froms)
	}
}

func TestVersionAndHelp(t *testing.T) {
	d := clitest.Start(t, nil, nil)
	out, _, code := run(t, d, t.TempDir(), "--version")
	if code != 0 || !strings.HasPrefix(out, "bmcsubmit version ") || strings.Count(out, "\n") != 1 {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	for _, arg := range []string{"--help", "-h"} {
		out, _, code = run(t, d, t.TempDir(), arg)
		if code != 0 || !strings.Contains(out, "Usage:\n  bmcsubmit [flags] JOB.toml") || !strings.Contains(out, "--dependency string") {
			t.Errorf("%s: exit %d, %q", arg, code, out)
		}
	}
	if len(d.Requests()) != 0 {
		t.Error("--version or --help reached the daemon")
	}
}
