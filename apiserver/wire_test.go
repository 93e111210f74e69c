package apiserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/job"
)

// serveBoth runs the daemon's user socket as bmcctld wires it: HTTP and
// the plain protocol on one listener.
func serveBoth(t testing.TB, h *harness) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bmcctld.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h.c, testLogger(), "", "test")
	httpLn, plainLn := wire.Split(ln, 5*time.Second)
	hs := &http.Server{Handler: srv, ConnContext: ConnContext}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go hs.Serve(httpLn)
	go func() { done <- srv.ServeWire(ctx, plainLn) }()
	t.Cleanup(func() {
		cancel()
		hs.Close()
		if err := <-done; err != nil {
			t.Errorf("ServeWire: %v", err)
		}
	})
	return path
}

func TestServeWire(t *testing.T) {
	h := newHarness(t, 2)
	sock := serveBoth(t, h)
	c := wire.NewClient(sock)
	ctx := context.Background()
	me := strconv.Itoa(os.Getuid())
	if u, err := user.LookupId(me); err == nil {
		me = u.Username
	}

	// A submit is parsed here, flags applied, and queued as the caller.
	file := []byte("image = \"busybox\"\ncommand = \"true\"\ntime_limit = \"10:00\"\n")
	resp, err := c.Submit(ctx, wire.Submit{File: "sub/hello.toml", Cwd: h.dir, Overrides: wire.Overrides{Hold: true, Time: "5", Array: "1-3"}}, file)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.IDs) != 3 || resp.ArrayJobID != resp.IDs[0] {
		t.Fatalf("submit answered %+v", resp)
	}
	j := h.job(resp.IDs[1])
	if j.State != job.Held || j.Spec.Name != "hello" || time.Duration(j.Spec.TimeLimit) != 5*time.Minute || j.User != me ||
		j.Spec.Output != job.DefaultArrayOutput {
		t.Errorf("queued %+v as %s", j.Spec, j.User)
	}

	// Problems come back as the one line a user reads.
	for _, tc := range []struct {
		file []byte
		o    wire.Overrides
		code int
		line bool
		msg  string
	}{
		{[]byte("image = \"busybox\"\ncommand = \"true\"\nimag = \"x\"\n"), wire.Overrides{}, 400, true, "bad.toml:3: imag: unknown field"},
		{[]byte("command = \"true\"\n"), wire.Overrides{}, 400, true, "bad.toml:1: image: is required"},
		{file, wire.Overrides{Time: "2x"}, 400, false, "--time: "},
		{file, wire.Overrides{Dependency: "afterok:999999"}, 400, false, "depends_on: no job 999999"},
	} {
		_, err := c.Submit(ctx, wire.Submit{File: "bad.toml", Cwd: h.dir, Overrides: tc.o}, tc.file)
		var se *wire.StatusError
		if !errors.As(err, &se) || se.Code != tc.code || se.Line != tc.line || !strings.HasPrefix(se.Msg, tc.msg) {
			t.Errorf("%q %+v: %#v, want %d %v %q…", tc.file, tc.o, err, tc.code, tc.line, tc.msg)
		}
	}

	// Following a job, and the queue table, say what the HTTP API says.
	js, err := c.Wait(ctx, resp.IDs[0], "")
	if err != nil || js.State != string(job.Held) || js.Reason != string(job.ReasonHeld) || !js.Waiting || js.Final {
		t.Errorf("wait: %+v, %v", js, err)
	}
	rows, err := c.Queue(ctx, wire.Queue{States: []string{"HELD"}, IDs: []string{strconv.FormatUint(resp.ArrayJobID, 10)}})
	if err != nil || len(rows) != 3 {
		t.Fatalf("queue: %+v, %v", rows, err)
	}
	infos, err := api.NewClient(sock).Jobs(ctx, api.JobFilter{States: []string{"HELD"}})
	if err != nil || len(infos.Jobs) != 3 {
		t.Fatalf("HTTP listing: %+v, %v", infos, err)
	}
	for i := range rows {
		if want := infos.Jobs[i].QueueRow(); rows[i] != want {
			t.Errorf("row %d: %+v, HTTP says %+v", i, rows[i], want)
		}
	}
	if _, err := c.Queue(ctx, wire.Queue{States: []string{"SLEEPING"}}); err == nil || !strings.Contains(err.Error(), `unknown state "SLEEPING"`) {
		t.Errorf("unknown state: %v", err)
	}
	if _, err := c.Wait(ctx, 999999, ""); !errors.Is(err, wire.ErrDaemon) {
		t.Errorf("wait for no job: %v", err)
	}
}

// A request that is not the protocol gets an answer, not a hang.
func TestServeWireMalformed(t *testing.T) {
	h := newHarness(t, 1)
	sock := serveBoth(t, h)
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte(wire.Magic + "op\tdrop\n\n"))
	buf := make([]byte, 4096)
	n, _ := conn.Read(buf)
	if got := string(buf[:n]); got != "status\t400\nerror\tmalformed bmcctld plain request or answer: unknown operation \"drop\"\n\n" {
		t.Errorf("answered %q", got)
	}
}

// bmcsubmit refuses a file over wire.MaxFile before sending it, and the
// daemon one over job.MaxFileBytes: one limit.
func TestWireFileLimitIsTheJobFileLimit(t *testing.T) {
	if wire.MaxFile != job.MaxFileBytes {
		t.Errorf("wire.MaxFile = %d, job.MaxFileBytes = %d", wire.MaxFile, job.MaxFileBytes)
	}
}

// --when-greenest reaches the controller before the submit, and its refusal
// comes back as a user's error (ctld's carbon tests cover the choice).
func TestWireWhenGreenest(t *testing.T) {
	h := newHarness(t, 1)
	c := wire.NewClient(serveBoth(t, h))
	_, err := c.Submit(context.Background(), wire.Submit{File: "g.toml", Cwd: h.dir, Greenest: true, Deadline: "8h"},
		[]byte("image = \"busybox\"\ncommand = \"true\"\n"))
	var se *wire.StatusError
	if !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Msg, "bmcctld has no carbon-intensity schedule") {
		t.Errorf("err = %v", err)
	}
}
