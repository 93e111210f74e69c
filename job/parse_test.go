package job

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestParseBad parses every testdata/bad/*.toml and compares the whole error
// text with the .err file beside it: the exact one-line messages, line
// numbers included.
func TestParseBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := Parse(filepath.Base(f), data)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", spec)
			}
			if spec != nil {
				t.Errorf("Parse returned a spec with an error")
			}
			var first *Error
			if !errors.As(err, &first) {
				t.Fatalf("error %T is not a *Error", err)
			}
			got := err.Error() + "\n"
			if !strings.HasPrefix(got, first.Error()+"\n") {
				t.Errorf("errors.As found %q, not the first line of %q", first, got)
			}
			golden(t, strings.TrimSuffix(f, ".toml")+".err", got)
		})
	}
}

// TestParseGood parses every testdata/good/*.toml and compares the Spec's JSON
// (what the API and the store carry) with the .json file beside it.
func TestParseGood(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := Parse(filepath.Base(f), data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			out, err := json.MarshalIndent(spec, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(f, ".toml")+".json", string(out)+"\n")
			if err := spec.Validate(); err != nil {
				t.Errorf("Validate after Parse: %v", err)
			}
		})
	}
}

// TestExamples keeps the shipped examples parseable.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example job files in ../examples: the shipped examples are gone")
	}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "nodes") {
			continue // nodes files, tested by package node
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(filepath.Base(f), data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs\n got: %s\nwant: %s", path, got, want)
	}
}

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		file, src  string
		wantName   string
		wantOutput string
		wantNodes  int
	}{
		{"dir/hello.toml", `image = "busybox"` + "\ncommand = \"true\"", "hello", DefaultOutput, 1},
		{"sweep.toml", "image = \"busybox\"\ncommand = \"true\"\narray = \"1-3\"", "sweep", DefaultArrayOutput, 1},
		{"x.toml", "name = \"given\"\nimage = \"busybox\"\ncommand = \"true\"\noutput = \"o\"", "given", "o", 1},
		{"-", "image = \"busybox\"\ncommand = \"true\"", "", DefaultOutput, 1},
	}
	for _, tt := range tests {
		s, err := Parse(tt.file, []byte(tt.src))
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if s.Name != tt.wantName || s.Output != tt.wantOutput || s.Nodes != tt.wantNodes || s.Error != "" {
			t.Errorf("%s: name %q output %q nodes %d error %q", tt.file, s.Name, s.Output, s.Nodes, s.Error)
		}
	}
}

func TestParseBeginLocal(t *testing.T) {
	s, err := Parse("b.toml", []byte("image = \"busybox\"\ncommand = \"true\"\nbegin = 2026-11-26T08:00:00"))
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 26, 8, 0, 0, 0, time.Local)
	if !s.Begin.Equal(want) {
		t.Errorf("begin = %v, want %v", s.Begin, want)
	}
	s, err = Parse("b.toml", []byte("image = \"busybox\"\ncommand = \"true\"\nbegin = \"2026-11-26T08:00:00Z\""))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC); !s.Begin.Equal(want) {
		t.Errorf("begin = %v, want %v", s.Begin, want)
	}
}

func TestParseErrorsUnwrap(t *testing.T) {
	_, err := Parse("j.toml", []byte("image = \"busybox\"\ncommand = \"true\"\ntime_limit = \"soon\""))
	if !errors.Is(err, ErrBadDuration) {
		t.Errorf("errors.Is(%v, ErrBadDuration) = false", err)
	}
	_, err = Parse("j.toml", []byte("image = \"busybox\"\ncommand = \"true\"\nmemory = \"lots\""))
	if !errors.Is(err, ErrBadSize) {
		t.Errorf("errors.Is(%v, ErrBadSize) = false", err)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "job.toml", Line: 7, Field: "time_limit", Msg: `"2x" is not a duration`}, `job.toml:7: time_limit: "2x" is not a duration`},
		{Error{File: "job.toml", Field: "image", Msg: "is required"}, "job.toml: image: is required"},
		{Error{Field: "image", Msg: "is required"}, "image: is required"},
		{Error{File: "job.toml", Line: 2, Msg: "invalid TOML: x\ny"}, "job.toml:2: invalid TOML: x y"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	l := ErrorList{&tests[0].e, &tests[1].e}
	if got, want := l.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("list: got %q, want %q", got, want)
	}
}
