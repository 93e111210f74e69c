package wire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrProtocol is wrapped by every malformed request or answer.
var ErrProtocol = errors.New("malformed bmcctld plain request or answer")

// AppendRequest appends a whole request to dst: Magic, r's line, and body
// (a submit's file, whose length it sets in r.Submit.Size).
func AppendRequest(dst []byte, r Request, body []byte) ([]byte, error) {
	if r.Submit != nil {
		s := *r.Submit
		s.Size = len(body)
		r.Submit = &s
	} else if len(body) > 0 {
		return dst, fmt.Errorf("%w: only a submit carries a body", ErrProtocol)
	}
	line, err := json.Marshal(r)
	if err != nil {
		return dst, err
	}
	dst = append(dst, Magic...)
	dst = append(dst, line...)
	dst = append(dst, '\n')
	return append(dst, body...), nil
}

// ReadRequest reads one request: Magic, a line naming one known operation
// with its fields and nothing else, and a submit's file.
func ReadRequest(r *bufio.Reader) (Request, []byte, error) {
	var req Request
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(r, magic); err != nil {
		return req, nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if string(magic) != Magic {
		return req, nil, fmt.Errorf("%w: does not start with %q", ErrProtocol, Magic)
	}
	line, err := readLine(r)
	if err != nil {
		return req, nil, err
	}
	if err := decodeStrict(line, &req); err != nil {
		return req, nil, err
	}
	set := 0
	for _, p := range []bool{req.Submit != nil, req.Wait != nil, req.Queue != nil} {
		if p {
			set++
		}
	}
	ok := set == 1
	switch req.Op {
	case OpSubmit:
		ok = ok && req.Submit != nil
	case OpWait:
		ok = ok && req.Wait != nil
	case OpQueue:
		ok = ok && req.Queue != nil
	default:
		return req, nil, fmt.Errorf("%w: unknown operation %q", ErrProtocol, req.Op)
	}
	if !ok {
		return req, nil, fmt.Errorf("%w: operation %q needs its own fields and no others", ErrProtocol, req.Op)
	}
	if req.Submit == nil {
		return req, nil, nil
	}
	if req.Submit.Size < 0 || req.Submit.Size > MaxFile {
		return req, nil, fmt.Errorf("%w: a job file of %d bytes (at most %d)", ErrProtocol, req.Submit.Size, MaxFile)
	}
	body := make([]byte, req.Submit.Size)
	if _, err := io.ReadFull(r, body); err != nil {
		return req, nil, fmt.Errorf("%w: job file: %w", ErrProtocol, err)
	}
	return req, body, nil
}

// AppendAnswer appends a's line to dst.
func AppendAnswer(dst []byte, a Answer) []byte {
	line, err := json.Marshal(a)
	if err != nil {
		// Answer holds only strings, numbers and bools: this cannot fail.
		panic(err)
	}
	return append(append(dst, line...), '\n')
}

// ReadAnswer reads the answer line.
func ReadAnswer(r *bufio.Reader) (Answer, error) {
	var a Answer
	line, err := readLine(r)
	if err != nil {
		return a, err
	}
	if err := decodeStrict(line, &a); err != nil {
		return a, err
	}
	if a.Status < 100 || a.Status > 599 || a.Rows < 0 {
		return a, fmt.Errorf("%w: status %d, %d rows", ErrProtocol, a.Status, a.Rows)
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

// decodeStrict decodes one JSON value that must fill the whole line and
// name no unknown field.
func decodeStrict(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if len(bytes.TrimSpace(line[dec.InputOffset():])) != 0 {
		return fmt.Errorf("%w: data after the JSON value", ErrProtocol)
	}
	return nil
}
