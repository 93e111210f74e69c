package wire

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func readReq(b []byte) (Request, []byte, error) {
	return ReadRequest(bufio.NewReader(bytes.NewReader(b)))
}

func TestRequestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  Request
		body []byte
	}{
		{"submit", Request{Op: OpSubmit, Submit: &Submit{File: "job.toml", Cwd: "/home/a", Overrides: Overrides{Array: "1-10%2", Hold: true, Time: "5"}}},
			[]byte("image = \"busybox\"\ncommand = \"true\"\n")},
		{"submit, empty file", Request{Op: OpSubmit, Submit: &Submit{File: "e.toml"}}, nil},
		{"submit, bytes that are not UTF-8", Request{Op: OpSubmit, Submit: &Submit{File: "bin.toml"}}, []byte{0xff, 0, '\n', 0xc3}},
		{"wait", Request{Op: OpWait, Wait: &Wait{ID: 12, From: "PENDING"}}, nil},
		{"queue", Request{Op: OpQueue, Queue: &Queue{Users: []string{"alice"}, States: []string{"PD", "R"}, IDs: []string{"12_3"}, All: true}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := AppendRequest(nil, tc.req, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			got, body, err := readReq(msg)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.req
			if want.Submit != nil {
				s := *want.Submit
				s.Size = len(tc.body)
				want.Submit = &s
			}
			if !reflect.DeepEqual(got, want) || !bytes.Equal(body, tc.body) {
				t.Errorf("got %+v %q, want %+v %q", got, body, want, tc.body)
			}
		})
	}
	if _, err := AppendRequest(nil, Request{Op: OpWait, Wait: &Wait{ID: 1}}, []byte("x")); !errors.Is(err, ErrProtocol) {
		t.Errorf("a wait with a body: %v", err)
	}
}

func TestReadRequestRejects(t *testing.T) {
	long := Magic + `{"op":"wait","wait":{"id":1,"from":"` + strings.Repeat("x", MaxLine) + `"}}` + "\n"
	for name, in := range map[string]string{
		"empty":             "",
		"HTTP":              "GET /v1/jobs HTTP/1.1\r\n\r\n",
		"no line end":       Magic + `{"op":"wait","wait":{"id":1}}`,
		"unknown op":        Magic + `{"op":"drop","wait":{"id":1}}` + "\n",
		"no fields":         Magic + `{"op":"wait"}` + "\n",
		"two ops":           Magic + `{"op":"wait","wait":{"id":1},"queue":{}}` + "\n",
		"fields of another": Magic + `{"op":"wait","queue":{}}` + "\n",
		"unknown field":     Magic + `{"op":"wait","wait":{"id":1,"colour":"red"}}` + "\n",
		"trailing data":     Magic + `{"op":"wait","wait":{"id":1}} {}` + "\n",
		"not JSON":          Magic + "op=wait\n",
		"negative size":     Magic + `{"op":"submit","submit":{"file":"j","cwd":"/","size":-1}}` + "\n",
		"file too large":    Magic + `{"op":"submit","submit":{"file":"j","cwd":"/","size":2000000}}` + "\n",
		"file cut short":    Magic + `{"op":"submit","submit":{"file":"j","cwd":"/","size":10}}` + "\nabc",
		"line too long":     long,
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := readReq([]byte(in)); !errors.Is(err, ErrProtocol) {
				t.Errorf("err = %v, want ErrProtocol", err)
			}
		})
	}
}

func TestAnswerRoundTrip(t *testing.T) {
	for _, a := range []Answer{
		{Status: 201, Submitted: &SubmitResponse{IDs: []uint64{4, 5}, ArrayJobID: 4}},
		{Status: 400, Error: "job.toml:3: imag: unknown field; did you mean image?", LineError: true},
		{Status: 200, Job: &JobState{JobID: "4_1", State: "FAILED", ExitCode: 7, Detail: "exit status 7", Final: true}},
		{Status: 200, Rows: 3},
	} {
		got, err := ReadAnswer(bufio.NewReader(bytes.NewReader(AppendAnswer(nil, a))))
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Errorf("got %+v, %v; want %+v", got, err, a)
		}
	}
	for _, bad := range []string{"", "{}\n", `{"status":200,"rows":-1}` + "\n", `{"status":200,"x":1}` + "\n", `{"status":200}`} {
		if _, err := ReadAnswer(bufio.NewReader(strings.NewReader(bad))); !errors.Is(err, ErrProtocol) {
			t.Errorf("ReadAnswer(%q) = %v, want ErrProtocol", bad, err)
		}
	}
}

// The daemon reads requests from any local user: no input may crash it,
// and what it accepts must mean the same when written again.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		Magic + `{"op":"submit","submit":{"file":"j.toml","cwd":"/","size":3,"overrides":{"hold":true}}}` + "\nabc",
		Magic + `{"op":"wait","wait":{"id":1,"from":"PENDING"}}` + "\n",
		Magic + `{"op":"queue","queue":{"users":["a"],"all":true}}` + "\n",
		Magic + "{}\n", "GET / HTTP/1.1\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		req, body, err := readReq(in)
		if err != nil {
			return
		}
		if req.Submit == nil && len(body) > 0 {
			t.Fatalf("a body for %q", req.Op)
		}
		again, err := AppendRequest(nil, req, body)
		if err != nil {
			t.Fatalf("accepted %+v but cannot write it: %v", req, err)
		}
		req2, body2, err := readReq(again)
		if err != nil || !reflect.DeepEqual(req, req2) || !bytes.Equal(body, body2) {
			t.Fatalf("%+v %q read back as %+v %q (%v)", req, body, req2, body2, err)
		}
	})
}

func FuzzReadAnswer(f *testing.F) {
	f.Add([]byte(`{"status":201,"submitted":{"ids":[1]}}` + "\n"))
	f.Add([]byte(`{"status":400,"error":"x","line_error":true}` + "\n"))
	f.Add([]byte(`{"status":200,"rows":2}` + "\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := ReadAnswer(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			return
		}
		a2, err := ReadAnswer(bufio.NewReader(bytes.NewReader(AppendAnswer(nil, a))))
		if err != nil || !reflect.DeepEqual(a, a2) {
			t.Fatalf("%+v read back as %+v (%v)", a, a2, err)
		}
	})
}
