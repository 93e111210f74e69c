package wire

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

// fakeDaemon answers each plain request with answer(req, body) written as is.
func fakeDaemon(t *testing.T, answer func(Request, []byte) []byte) string {
	t.Helper()
	ln, path := listen(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				req, body, err := ReadRequest(bufio.NewReader(c))
				if err != nil {
					c.Write(AppendAnswer(nil, Answer{Status: 400, Error: err.Error()}))
					return
				}
				c.Write(answer(req, body))
			}(c)
		}
	}()
	return path
}

func TestClientSubmit(t *testing.T) {
	path := fakeDaemon(t, func(req Request, body []byte) []byte {
		if req.Submit.File != "job.toml" || string(body) != "image = 1\n" || !req.Submit.Overrides.Hold {
			return AppendAnswer(nil, Answer{Status: 500, Error: "unexpected request"})
		}
		if req.Submit.Cwd == "/bad" {
			return AppendAnswer(nil, Answer{Status: 400, Error: "job.toml:1: image: not a string", LineError: true})
		}
		return AppendAnswer(nil, Answer{Status: 201, Submitted: &SubmitResponse{IDs: []uint64{7}}})
	})
	c := NewClient(path)
	file := []byte("image = 1\n")
	resp, err := c.Submit(context.Background(), Submit{File: "job.toml", Cwd: "/w", Overrides: Overrides{Hold: true}}, file)
	if err != nil || len(resp.IDs) != 1 || resp.IDs[0] != 7 {
		t.Fatalf("submit: %+v, %v", resp, err)
	}
	_, err = c.Submit(context.Background(), Submit{File: "job.toml", Cwd: "/bad", Overrides: Overrides{Hold: true}}, file)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 400 || !se.Line || !errors.Is(err, ErrDaemon) || !strings.HasPrefix(err.Error(), "job.toml:1:") {
		t.Errorf("a job-file error came back as %#v", err)
	}
}

func TestClientQueue(t *testing.T) {
	rows := []QueueRow{{JobID: "1", Name: "a", State: "RUNNING", Elapsed: 3}, {JobID: "2_1", Detail: "x\ty", State: "PENDING"}}
	var listing []byte
	for i := range rows {
		listing = AppendRow(listing, &rows[i])
	}
	for _, tc := range []struct {
		name   string
		answer []byte
		want   []QueueRow
		err    error
	}{
		{"whole", append(AppendAnswer(nil, Answer{Status: 200, Rows: 2}), listing...), rows, nil},
		{"empty", AppendAnswer(nil, Answer{Status: 200}), []QueueRow{}, nil},
		{"cut short", append(AppendAnswer(nil, Answer{Status: 200, Rows: 3}), listing...), nil, ErrProtocol},
		{"cut mid-row", append(AppendAnswer(nil, Answer{Status: 200, Rows: 2}), listing[:len(listing)-3]...), nil, ErrProtocol},
		{"too long", append(AppendAnswer(nil, Answer{Status: 200, Rows: 1}), listing...), nil, ErrProtocol},
		{"refused", AppendAnswer(nil, Answer{Status: 400, Error: `unknown state "X"`}), nil, ErrDaemon},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fakeDaemon(t, func(Request, []byte) []byte { return tc.answer })
			got, err := NewClient(path).Queue(context.Background(), Queue{})
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Errorf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %+v, %v", got, err)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("row %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// A cancelled context lets go of a wait the daemon holds open.
func TestClientWaitCancel(t *testing.T) {
	held, asked := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(held) })
	path := fakeDaemon(t, func(Request, []byte) []byte { close(asked); <-held; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := NewClient(path).Wait(ctx, 1, "PENDING")
		errc <- err
	}()
	<-asked
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestClientNoDaemon(t *testing.T) {
	_, err := NewClient(t.TempDir()+"/none.sock").Wait(context.Background(), 1, "")
	if err == nil || !strings.Contains(err.Error(), "cannot reach bmcctld") || errors.Is(err, ErrDaemon) {
		t.Errorf("err = %v", err)
	}
}
