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
		{"submit, greenest", Request{Op: OpSubmit, Submit: &Submit{File: "g.toml", Greenest: true, Deadline: "8h"}}, []byte("x")},
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
	long := Magic + "op\twait\nfrom\t" + strings.Repeat("x", MaxLine) + "\n\n"
	many := Magic + "op\tqueue\n" + strings.Repeat("user\tsomeone-with-a-long-name\n", MaxLine/20) + "\n"
	for name, in := range map[string]string{
		"empty":             "",
		"HTTP":              "GET /v1/jobs HTTP/1.1\r\n\r\n",
		"no end of header":  Magic + "op\twait\nid\t1\n",
		"no line end":       Magic + "op\twait\nid\t1",
		"unknown op":        Magic + "op\tdrop\nid\t1\n\n",
		"no op":             Magic + "id\t1\n\n",
		"op twice":          Magic + "op\twait\nop\twait\nid\t1\n\n",
		"fields of another": Magic + "op\twait\nuser\talice\n\n",
		"unknown field":     Magic + "op\twait\nid\t1\ncolour\tred\n\n",
		"field twice":       Magic + "op\twait\nid\t1\nid\t2\n\n",
		"not key value":     Magic + "op wait\n\n",
		"bad key":           Magic + "op\twait\nID\t1\n\n",
		"raw control byte":  Magic + "op\twait\nfrom\tPEN\x1bDING\n\n",
		"bad escape":        Magic + "op\twait\nfrom\t\\q\n\n",
		"bad number":        Magic + "op\twait\nid\tone\n\n",
		"zero written":      Magic + "op\twait\nid\t0\n\n",
		"flag not 1":        Magic + "op\tqueue\nall\ttrue\n\n",
		"negative size":     Magic + "op\tsubmit\nfile\tj\nsize\t-1\n\n",
		"file too large":    Magic + "op\tsubmit\nfile\tj\nsize\t2000000\n\n",
		"file cut short":    Magic + "op\tsubmit\nfile\tj\nsize\t10\n\nabc",
		"line too long":     long,
		"header too long":   many,
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := readReq([]byte(in)); !errors.Is(err, ErrProtocol) {
				t.Errorf("err = %v, want ErrProtocol", err)
			}
		})
	}
	for name, r := range map[string]Request{
		"no operation":   {Op: OpWait},
		"two operations": {Op: OpWait, Wait: &Wait{ID: 1}, Queue: &Queue{}},
		"op of another":  {Op: OpQueue, Wait: &Wait{ID: 1}},
	} {
		if _, err := AppendRequest(nil, r, nil); !errors.Is(err, ErrProtocol) {
			t.Errorf("AppendRequest, %s: %v", name, err)
		}
	}
}

func TestAnswerRoundTrip(t *testing.T) {
	for _, a := range []Answer{
		{Status: 201, Submitted: &SubmitResponse{IDs: []uint64{4, 5}, ArrayJobID: 4}},
		{Status: 201, Submitted: &SubmitResponse{IDs: []uint64{9}, Note: "begins 03:00", Warnings: []string{"account physics: 85% used", "user ann: 100% used"}}},
		{Status: 400, Error: "job.toml:3: imag: unknown field; did you mean image?", LineError: true},
		{Status: 200, Job: &JobState{JobID: "4_1", State: "FAILED", ExitCode: 7, Detail: "exit status 7", Final: true}},
		{Status: 200, Rows: 3},
		{Status: 200, Job: &JobState{}}, // an empty job is still a job
		{Status: 201, Submitted: &SubmitResponse{IDs: []uint64{0, 1}}},
	} {
		got, err := ReadAnswer(bufio.NewReader(bytes.NewReader(AppendAnswer(nil, a))))
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Errorf("got %+v, %v; want %+v", got, err, a)
		}
	}
	for _, bad := range []string{"", "\n", "status\t200\nrows\t-1\n\n", "status\t200\nx\t1\n\n", "status\t200\n",
		"status\t42\n\n", "status\t200\nstate\tRUNNING\n\n", "status\t201\narray_job_id\t0\n\n"} {
		if _, err := ReadAnswer(bufio.NewReader(strings.NewReader(bad))); !errors.Is(err, ErrProtocol) {
			t.Errorf("ReadAnswer(%q) = %v, want ErrProtocol", bad, err)
		}
	}
}

// The daemon reads requests from any local user: no input may crash it,
// and what it accepts must mean the same when written again.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		Magic + "op\tsubmit\nfile\tj.toml\ncwd\t/\nsize\t3\nhold\t1\n\nabc",
		Magic + "op\twait\nid\t1\nfrom\tPENDING\n\n",
		Magic + "op\tqueue\nuser\ta\nuser\t\nstate\tPD\nall\t1\n\n",
		Magic + "op\twait\nfrom\t\\t\\x1b\\\\\n\n", Magic + "\n", "GET / HTTP/1.1\r\n",
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
	f.Add([]byte("status\t201\nid\t1\nid\t2\narray_job_id\t1\n\n"))
	f.Add([]byte("status\t400\nerror\tjob.toml:1: x\\ny\nline_error\t1\n\n"))
	f.Add([]byte("status\t200\njob_id\t3_1\nstate\tFAILED\nexit_code\t-2\nfinal\t1\n\n"))
	f.Add([]byte("status\t200\nrows\t2\n\n"))
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
