package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/bmc-sched/bmc/api/wire"
)

// ErrDaemon is wrapped by every error that bmcctld itself returned, as
// opposed to failing to reach it, in either protocol.
var ErrDaemon = wire.ErrDaemon

// StatusError is an error answer from the daemon.
type StatusError = wire.StatusError

// Client talks to bmcctld over its Unix socket.
type Client struct {
	Socket string
	hc     *http.Client
}

// DefaultSocket is where bmcctld listens with its default state dir.
const DefaultSocket = wire.DefaultSocket

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	d := net.Dialer{Timeout: 5 * time.Second}
	return &Client{Socket: path, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return nil, err
			}
			return &readWatch{Conn: c}, nil
		},
		MaxIdleConns: 4,
	}}}
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := "http://bmcctld" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	var used *readWatch
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { used, _ = i.Conn.(*readWatch) },
	}))
	resp, err := c.hc.Do(req)
	if err != nil {
		if u := wire.Unanswered(err); u != nil {
			return u
		}
		// A cap closes a fresh connection before reading the request;
		// net/http then reports "server closed idle connection", an
		// error it does not export.
		if used != nil && ctx.Err() == nil {
			if u := wire.Unanswered(used.closedUnanswered()); u != nil {
				return u
			}
		}
		var ne *net.OpError
		if errors.As(err, &ne) {
			return fmt.Errorf("cannot reach bmcctld at %s (is it running? set --socket or BMC_SOCKET): %w", c.Socket, ne.Err)
		}
		return fmt.Errorf("cannot reach bmcctld at %s: %w", c.Socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("bmcctld answered %s", resp.Status)
		}
		return &StatusError{Code: resp.StatusCode, Msg: e.Error}
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if w, ok := out.(io.Writer); ok {
		_, err := io.Copy(w, resp.Body)
		return err
	}
	if raw, ok := out.(*json.RawMessage); ok {
		b, err := io.ReadAll(resp.Body)
		*raw = b
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("bmcctld answer: %w", err)
	}
	return nil
}

// Submit queues a job.
func (c *Client) Submit(ctx context.Context, r SubmitRequest) (SubmitResponse, error) {
	var out SubmitResponse
	err := c.do(ctx, http.MethodPost, PathJobs, nil, r, &out)
	return out, err
}

// JobFilter narrows a job listing.
type JobFilter struct {
	Users  []string
	States []string
	All    bool // include jobs that ended long ago
	IDs    []string
}

func (f JobFilter) query() url.Values {
	q := url.Values{}
	for _, u := range f.Users {
		q.Add("user", u)
	}
	for _, s := range f.States {
		q.Add("state", s)
	}
	for _, id := range f.IDs {
		q.Add("id", id)
	}
	if f.All {
		q.Set("all", "1")
	}
	return q
}

// Jobs lists the queue.
func (c *Client) Jobs(ctx context.Context, f JobFilter) (JobList, error) {
	var out JobList
	err := c.do(ctx, http.MethodGet, PathJobs, f.query(), nil, &out)
	return out, err
}

// JobsTo copies the daemon's JSON listing to w as it arrives, for
// `bmcq --json`: with 10,000 jobs, reading the 3 MB answer into memory first
// cost the short-lived bmcq more in page faults than the copy itself.
func (c *Client) JobsTo(ctx context.Context, f JobFilter, w io.Writer) error {
	return c.do(ctx, http.MethodGet, PathJobs, f.query(), nil, w)
}

// Job returns one job in detail. id is "12" or "12_3".
func (c *Client) Job(ctx context.Context, id string) (JobDetail, error) {
	var out JobDetail
	err := c.do(ctx, http.MethodGet, PathJobs+"/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// WaitChange blocks until job id leaves state `from` (or the daemon's poll
// limit passes) and returns the job as it is then.
func (c *Client) WaitChange(ctx context.Context, id uint64, from string) (JobDetail, error) {
	var out JobDetail
	q := url.Values{"from": {from}}
	err := c.do(ctx, http.MethodGet, PathJobs+"/"+strconv.FormatUint(id, 10)+"/wait", q, nil, &out)
	return out, err
}

// JobAction applies cancel, hold, release or requeue to the job (or the
// whole array when id is an array's id).
func (c *Client) JobAction(ctx context.Context, id, action string) (ActionResult, error) {
	var out ActionResult
	err := c.do(ctx, http.MethodPost, PathJobs+"/"+url.PathEscape(id)+"/"+action, nil, struct{}{}, &out)
	return out, err
}

// Nodes lists the machines.
func (c *Client) Nodes(ctx context.Context) (NodeList, error) {
	var out NodeList
	err := c.do(ctx, http.MethodGet, PathNodes, nil, nil, &out)
	return out, err
}

// NodeAction drains or resumes a node (admins only).
func (c *Client) NodeAction(ctx context.Context, name, action, reason string) error {
	return c.do(ctx, http.MethodPost, PathNodes+"/"+url.PathEscape(name)+"/"+action, nil, DrainRequest{Reason: reason}, nil)
}

// Whoami returns the identity the daemon sees for this process.
func (c *Client) Whoami(ctx context.Context) (Whoami, error) {
	var out Whoami
	err := c.do(ctx, http.MethodGet, PathPing, nil, nil, &out)
	return out, err
}

// Get fetches any JSON route into out (for commands added later).
func (c *Client) Get(ctx context.Context, path string, q url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, q, nil, out)
}

// readWatch remembers how the peer ended a connection that it closed
// before sending a byte.
type readWatch struct {
	net.Conn
	mu     sync.Mutex
	got    bool
	endErr error
}

func (w *readWatch) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	w.mu.Lock()
	if n > 0 {
		w.got = true
	} else if err != nil && !w.got && w.endErr == nil {
		w.endErr = err
	}
	w.mu.Unlock()
	return n, err
}

// closedUnanswered is the error the connection ended with if nothing was
// read from it, nil otherwise.
func (w *readWatch) closedUnanswered() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.got {
		return nil
	}
	return w.endErr
}
