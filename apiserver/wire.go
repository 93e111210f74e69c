package apiserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/ctld"
	"github.com/bmc-sched/bmc/job"
)

// ServeWire answers plain requests (package api/wire) on the connections
// ln accepts until ctx ends or ln is closed. ctld.Identity comes from the kernel
// (SO_PEERCRED), as for HTTP.
func (s *Server) ServeWire(ctx context.Context, ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go s.serveWire(ctx, conn)
	}
}

func (s *Server) serveWire(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	ans, rows := s.answerWire(ctx, conn)
	conn.SetWriteDeadline(time.Now().Add(s.readTimeout))
	out := s.chunks(conn)
	defer out.done()
	out.buf = wire.AppendAnswer(out.buf, ans)
	for i := range ans.Rows {
		in := rows.Row(i)
		qr := in.QueueRow()
		out.buf = wire.AppendRow(out.buf, &qr)
		if !out.maybeFlush() {
			return
		}
	}
	out.flush()
}

// answerWire reads one request and answers it; a queue listing's rows come
// apart, so they are built and encoded as they are written.
func (s *Server) answerWire(ctx context.Context, conn net.Conn) (wire.Answer, rows) {
	cred := peerCred(conn)
	if cred == nil {
		return wireError(fmt.Errorf("%w: no peer credentials on this connection", ctld.ErrForbidden)), rows{}
	}
	conn.SetReadDeadline(time.Now().Add(s.readTimeout))
	req, body, err := wire.ReadRequest(bufio.NewReader(conn))
	if err != nil {
		return wireError(fmt.Errorf("%w: %w", ctld.ErrInvalid, err)), rows{}
	}
	conn.SetReadDeadline(time.Time{})
	who := s.identityOf(cred)
	switch req.Op {
	case wire.OpSubmit:
		return s.wireSubmit(ctx, who, req.Submit, body), rows{}
	case wire.OpWait:
		// A wait may last long, and the client sends nothing more: a read
		// that returns means it hung up (an interrupted bmcsubmit --wait),
		// and the wait can stop. The quick requests need no watcher.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			conn.Read(make([]byte, 1))
			cancel()
		}()
		d, err := s.c.WaitChange(ctx, req.Wait.ID, job.State(req.Wait.From))
		if err != nil {
			return wireError(err), rows{}
		}
		d = s.redactDetail(who, d)
		st := d.JobState()
		return wire.Answer{Status: http.StatusOK, Job: &st}, rows{}
	case wire.OpQueue:
		q := req.Queue
		f, err := jobFilter(q.Users, q.States, q.IDs, q.All)
		if err != nil {
			return wireError(err), rows{}
		}
		l, err := s.c.Listing(f)
		if err != nil {
			return wireError(err), rows{}
		}
		return wire.Answer{Status: http.StatusOK, Rows: l.Len()}, s.rows(who, l)
	}
	return wireError(fmt.Errorf("%w: operation %q", ctld.ErrInvalid, req.Op)), rows{}
}

// wireSubmit parses the job file here rather than in bmcsubmit, so the
// client needs neither the TOML parser nor the image-reference checks: its
// errors name the file and line just the same.
func (s *Server) wireSubmit(ctx context.Context, who ctld.Identity, sub *wire.Submit, file []byte) wire.Answer {
	spec, err := job.Parse(sub.File, file)
	if err != nil {
		a := wireError(fmt.Errorf("%w: %w", ctld.ErrInvalid, err))
		a.LineError = true
		return a
	}
	if err := job.Overrides(sub.Overrides).Apply(spec); err != nil {
		return wireError(fmt.Errorf("%w: %w", ctld.ErrInvalid, err))
	}
	note, err := s.c.WhenGreenest(sub, spec)
	if err != nil {
		return wireError(err)
	}
	resp, err := s.c.Submit(ctx, who, api.SubmitRequest{Spec: *spec, Cwd: sub.Cwd, File: sub.File})
	if err != nil {
		return wireError(err)
	}
	resp.Note = note
	return wire.Answer{Status: http.StatusCreated, Submitted: &resp}
}

func wireError(err error) wire.Answer {
	code, msg := errorStatus(err)
	return wire.Answer{Status: code, Error: msg}
}
