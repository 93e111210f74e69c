package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrProtocol is wrapped by every malformed request or answer.
var ErrProtocol = errors.New("malformed bmcctld plain request or answer")

// AppendRequest appends a whole request to dst: Magic, r's header, and
// body (a submit's file, whose length it writes as the size).
func AppendRequest(dst []byte, r Request, body []byte) ([]byte, error) {
	if r.Submit == nil && len(body) > 0 {
		return dst, fmt.Errorf("%w: only a submit carries a body", ErrProtocol)
	}
	if n := btoi(r.Submit != nil) + btoi(r.Wait != nil) + btoi(r.Queue != nil); n != 1 {
		return dst, fmt.Errorf("%w: a request carries one operation, not %d", ErrProtocol, n)
	}
	h := header(append(dst, Magic...))
	switch {
	case r.Submit != nil && r.Op == OpSubmit:
		s, o := r.Submit, &r.Submit.Overrides
		h = h.always("op", OpSubmit).str("file", s.File).str("cwd", s.Cwd).int("size", len(body)).
			str("array", o.Array).str("dependency", o.Dependency).flag("hold", o.Hold).str("time", o.Time).
			str("account", o.Account).str("name", o.Name).str("output", o.Output).str("partition", o.Partition).
			flag("greenest", s.Greenest).str("deadline", s.Deadline)
	case r.Wait != nil && r.Op == OpWait:
		h = h.always("op", OpWait).uint("id", r.Wait.ID).str("from", r.Wait.From)
	case r.Queue != nil && r.Op == OpQueue:
		q := r.Queue
		h = h.always("op", OpQueue)
		for _, u := range q.Users {
			h = h.always("user", u)
		}
		for _, s := range q.States {
			h = h.always("state", s)
		}
		for _, id := range q.IDs {
			h = h.always("job", id)
		}
		h = h.flag("all", q.All)
	default:
		return dst, fmt.Errorf("%w: operation %q with the fields of another", ErrProtocol, r.Op)
	}
	return append(h.end(), body...), nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ReadRequest reads one request: Magic, a header naming one known
// operation with its fields and no others, and a submit's file.
func ReadRequest(r *bufio.Reader) (Request, []byte, error) {
	var req Request
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(r, magic); err != nil {
		return req, nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if string(magic) != Magic {
		return req, nil, fmt.Errorf("%w: does not start with %q", ErrProtocol, Magic)
	}
	fields, err := readHeader(r)
	if err != nil {
		return req, nil, err
	}
	var d decoder
	for _, f := range fields {
		if f.key == "op" {
			d.str(f, &req.Op)
		}
	}
	switch req.Op {
	case OpSubmit:
		req.Submit = &Submit{}
	case OpWait:
		req.Wait = &Wait{}
	case OpQueue:
		req.Queue = &Queue{}
	default:
		return Request{}, nil, fmt.Errorf("%w: unknown operation %q", ErrProtocol, req.Op)
	}
	for _, f := range fields {
		switch s, w, q := req.Submit, req.Wait, req.Queue; {
		case f.key == "op":
		case s != nil && f.key == "file":
			d.str(f, &s.File)
		case s != nil && f.key == "cwd":
			d.str(f, &s.Cwd)
		case s != nil && f.key == "size":
			d.int(f, &s.Size)
		case s != nil && f.key == "array":
			d.str(f, &s.Overrides.Array)
		case s != nil && f.key == "dependency":
			d.str(f, &s.Overrides.Dependency)
		case s != nil && f.key == "hold":
			d.flag(f, &s.Overrides.Hold)
		case s != nil && f.key == "time":
			d.str(f, &s.Overrides.Time)
		case s != nil && f.key == "account":
			d.str(f, &s.Overrides.Account)
		case s != nil && f.key == "name":
			d.str(f, &s.Overrides.Name)
		case s != nil && f.key == "output":
			d.str(f, &s.Overrides.Output)
		case s != nil && f.key == "partition":
			d.str(f, &s.Overrides.Partition)
		case s != nil && f.key == "greenest":
			d.flag(f, &s.Greenest)
		case s != nil && f.key == "deadline":
			d.str(f, &s.Deadline)
		case w != nil && f.key == "id":
			d.uint(f, &w.ID)
		case w != nil && f.key == "from":
			d.str(f, &w.From)
		case q != nil && f.key == "user":
			q.Users = append(q.Users, f.val)
		case q != nil && f.key == "state":
			q.States = append(q.States, f.val)
		case q != nil && f.key == "job":
			q.IDs = append(q.IDs, f.val)
		case q != nil && f.key == "all":
			d.flag(f, &q.All)
		default:
			d.fail(f, "not a field of "+req.Op)
		}
	}
	if d.err != nil {
		return Request{}, nil, d.err
	}
	if req.Submit == nil {
		return req, nil, nil
	}
	if req.Submit.Size < 0 || req.Submit.Size > MaxFile {
		return Request{}, nil, fmt.Errorf("%w: a job file of %d bytes (at most %d)", ErrProtocol, req.Submit.Size, MaxFile)
	}
	body := make([]byte, req.Submit.Size)
	if _, err := io.ReadFull(r, body); err != nil {
		return Request{}, nil, fmt.Errorf("%w: job file: %w", ErrProtocol, err)
	}
	return req, body, nil
}

// AppendAnswer appends a's header to dst.
func AppendAnswer(dst []byte, a Answer) []byte {
	h := header(dst).int("status", a.Status).str("error", a.Error).flag("line_error", a.LineError)
	if s := a.Submitted; s != nil {
		for _, id := range s.IDs {
			h = h.listUint("id", id)
		}
		h = h.uint("array_job_id", s.ArrayJobID).str("note", s.Note)
		for _, w := range s.Warnings {
			h = h.always("warning", w)
		}
	}
	if j := a.Job; j != nil {
		h = h.always("job_id", j.JobID).str("state", j.State).str("reason", j.Reason).str("node", j.Node).
			flag("simulated", j.Simulated).int("exit_code", j.ExitCode).str("detail", j.Detail).
			flag("waiting", j.Waiting).flag("final", j.Final).flag("completed", j.Completed)
	}
	return h.int("rows", a.Rows).end()
}

// ReadAnswer reads the answer header.
func ReadAnswer(r *bufio.Reader) (Answer, error) {
	var a Answer
	fields, err := readHeader(r)
	if err != nil {
		return a, err
	}
	var d decoder
	sub := func() *SubmitResponse {
		if a.Submitted == nil {
			a.Submitted = &SubmitResponse{}
		}
		return a.Submitted
	}
	job := func() *JobState {
		if a.Job == nil {
			a.Job = &JobState{}
		}
		return a.Job
	}
	for _, f := range fields {
		switch f.key {
		case "status":
			d.int(f, &a.Status)
		case "error":
			d.str(f, &a.Error)
		case "line_error":
			d.flag(f, &a.LineError)
		case "rows":
			d.int(f, &a.Rows)
		case "id":
			var id uint64
			d.listUint(f, &id)
			sub().IDs = append(sub().IDs, id)
		case "array_job_id":
			d.uint(f, &sub().ArrayJobID)
		case "note":
			d.str(f, &sub().Note)
		case "warning":
			sub().Warnings = append(sub().Warnings, f.val)
		case "job_id":
			d.str(f, &job().JobID)
		case "state":
			d.str(f, &job().State)
		case "reason":
			d.str(f, &job().Reason)
		case "node":
			d.str(f, &job().Node)
		case "simulated":
			d.flag(f, &job().Simulated)
		case "exit_code":
			d.int(f, &job().ExitCode)
		case "detail":
			d.str(f, &job().Detail)
		case "waiting":
			d.flag(f, &job().Waiting)
		case "final":
			d.flag(f, &job().Final)
		case "completed":
			d.flag(f, &job().Completed)
		default:
			d.fail(f, "not a field of an answer")
		}
	}
	if d.err != nil {
		return Answer{}, d.err
	}
	if a.Job != nil && !d.seen["job_id"] {
		return Answer{}, fmt.Errorf("%w: a job without its job_id", ErrProtocol)
	}
	if a.Status < 100 || a.Status > 599 || a.Rows < 0 {
		return Answer{}, fmt.Errorf("%w: status %s, %d rows", ErrProtocol, strconv.Itoa(a.Status), a.Rows)
	}
	return a, nil
}

// readLine reads up to and without '\n', at most MaxLine bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := r.ReadSlice('\n')
		if len(line)+len(part) > MaxLine+1 {
			return nil, fmt.Errorf("%w: a line longer than %d bytes", ErrProtocol, MaxLine)
		}
		line = append(line, part...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("%w: %w", ErrProtocol, io.ErrUnexpectedEOF)
		default:
			return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
	}
}
