// Package clitest runs the user commands in tests: an Env writing to
// buffers, and a fake bmcctld on a Unix socket that speaks both protocols
// (the plain one of api/wire and HTTP) with answers the test gives.
package clitest

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/cli"
)

// Plain answers one plain request: the answer line and, for a listing,
// the rows that follow it.
type Plain func(req wire.Request, body []byte) (wire.Answer, []wire.QueueRow)

// Daemon is a fake bmcctld.
type Daemon struct {
	Socket string

	mu   sync.Mutex
	reqs []Received
}

// Received is one plain request as the daemon read it.
type Received struct {
	Req  wire.Request
	Body []byte
}

// Start serves plain requests with plain and HTTP ones with h (either may
// be nil: the request is then refused) until the test ends.
func Start(t *testing.T, plain Plain, h http.Handler) *Daemon {
	t.Helper()
	d := &Daemon{Socket: filepath.Join(t.TempDir(), "bmcctld.sock")}
	ln, err := net.Listen("unix", d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	httpLn, plainLn := wire.Split(ln, 5*time.Second)
	if h == nil {
		h = http.NotFoundHandler()
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(httpLn)
	go func() {
		for {
			c, err := plainLn.Accept()
			if err != nil {
				return
			}
			go d.serve(c, plain)
		}
	}()
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return d
}

func (d *Daemon) serve(c net.Conn, plain Plain) {
	defer c.Close()
	req, body, err := wire.ReadRequest(bufio.NewReader(c))
	if err != nil {
		c.Write(wire.AppendAnswer(nil, wire.Answer{Status: http.StatusBadRequest, Error: err.Error()}))
		return
	}
	d.mu.Lock()
	d.reqs = append(d.reqs, Received{req, body})
	d.mu.Unlock()
	if plain == nil {
		c.Write(wire.AppendAnswer(nil, wire.Answer{Status: http.StatusNotFound, Error: "no plain protocol here"}))
		return
	}
	a, rows := plain(req, body)
	out := wire.AppendAnswer(nil, a)
	for i := range rows {
		out = wire.AppendRow(out, &rows[i])
	}
	c.Write(out)
}

// Requests returns the plain requests received so far.
func (d *Daemon) Requests() []Received {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Received(nil), d.reqs...)
}

// Env is an Env on buffers, reaching the daemon at socket, in directory
// cwd, at a fixed time.
func Env(socket, cwd string) (cli.Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return cli.Env{
		Stdout: &out, Stderr: &errb, Cwd: cwd, Now: func() time.Time { return now },
		Getenv: func(k string) string {
			if k == "BMC_SOCKET" {
				return socket
			}
			return ""
		},
	}, &out, &errb
}
