package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// Client makes plain requests to bmcctld, one connection each.
type Client struct {
	Socket string
	// DialTimeout bounds connecting (not the request: a wait may block).
	DialTimeout time.Duration
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client { return &Client{Socket: path, DialTimeout: 5 * time.Second} }

// Submit queues a job file; file is its content, s names it.
func (c *Client) Submit(ctx context.Context, s Submit, file []byte) (SubmitResponse, error) {
	a, _, err := c.do(ctx, Request{Op: OpSubmit, Submit: &s}, file)
	if err != nil {
		return SubmitResponse{}, err
	}
	if a.Submitted == nil || len(a.Submitted.IDs) == 0 {
		return SubmitResponse{}, fmt.Errorf("%w: a submit answer without job ids", ErrProtocol)
	}
	return *a.Submitted, nil
}

// Wait blocks until job id leaves state from (or the daemon's poll limit
// passes) and returns the job as it is then.
func (c *Client) Wait(ctx context.Context, id uint64, from string) (JobState, error) {
	a, _, err := c.do(ctx, Request{Op: OpWait, Wait: &Wait{ID: id, From: from}}, nil)
	if err != nil {
		return JobState{}, err
	}
	if a.Job == nil {
		return JobState{}, fmt.Errorf("%w: a wait answer without the job", ErrProtocol)
	}
	return *a.Job, nil
}

// Queue lists the queue table's rows. A listing cut short is an error,
// never a shorter queue.
func (c *Client) Queue(ctx context.Context, q Queue) ([]QueueRow, error) {
	a, body, err := c.do(ctx, Request{Op: OpQueue, Queue: &q}, nil)
	if err != nil {
		return nil, err
	}
	rows := make([]QueueRow, 0, a.Rows)
	rest := body
	for range a.Rows {
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			return nil, fmt.Errorf("%w: the queue ended after %d of %d rows", ErrProtocol, len(rows), a.Rows)
		}
		r, err := ParseRow(rest[:i])
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
		rest = rest[i+1:]
	}
	if rest != "" {
		return nil, fmt.Errorf("%w: data after %d queue rows", ErrProtocol, a.Rows)
	}
	return rows, nil
}

// do sends one request and reads the answer; for a listing it also reads
// the rows, as one string.
func (c *Client) do(ctx context.Context, req Request, body []byte) (Answer, string, error) {
	msg, err := AppendRequest(nil, req, body)
	if err != nil {
		return Answer{}, "", err
	}
	d := net.Dialer{Timeout: c.DialTimeout}
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		if ctx.Err() != nil {
			return Answer{}, "", ctx.Err()
		}
		var ne *net.OpError
		if errors.As(err, &ne) {
			err = ne.Err
		}
		return Answer{}, "", fmt.Errorf("cannot reach bmcctld at %s (is it running? set --socket or BMC_SOCKET): %w", c.Socket, err)
	}
	defer conn.Close()
	// Closing the connection is how a cancelled wait lets go.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	a, rows, err := exchange(conn, msg, req.Op == OpQueue)
	if ctx.Err() != nil {
		return Answer{}, "", ctx.Err()
	}
	return a, rows, err
}

// Unanswered says what a connection bmcctld accepted and then closed
// without a word most likely means: a connection cap (it answers every
// request it reads, even with an error).
func Unanswered(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("bmcctld closed the connection unanswered: too many connections are open (yours, or everyone's: bmcctld --api-max-conns-per-user, --api-max-conns); try again later: %w", err)
	}
	return nil
}

func exchange(conn net.Conn, msg []byte, listing bool) (Answer, string, error) {
	if _, err := conn.Write(msg); err != nil {
		if u := Unanswered(err); u != nil {
			return Answer{}, "", u
		}
		return Answer{}, "", fmt.Errorf("bmcctld: %w", err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	a, err := ReadAnswer(br)
	if err != nil {
		if u := Unanswered(err); u != nil {
			return Answer{}, "", u
		}
		return Answer{}, "", err
	}
	if a.Status/100 != 2 {
		msg := a.Error
		if msg == "" {
			msg = fmt.Sprintf("bmcctld answered status %d", a.Status)
		}
		return a, "", &StatusError{Code: a.Status, Msg: msg, Line: a.LineError}
	}
	if !listing {
		return a, "", nil
	}
	var b strings.Builder
	b.Grow(a.Rows * 96)
	if _, err := io.Copy(&b, br); err != nil {
		return a, "", fmt.Errorf("bmcctld: queue rows: %w", err)
	}
	return a, b.String(), nil
}
