package wire

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestRowRoundTrip(t *testing.T) {
	for _, r := range []QueueRow{
		{JobID: "12", Name: "hello", User: "alice", State: "RUNNING", Elapsed: 4.5, Node: "vnode1", Reason: "None"},
		{JobID: "13_2", Name: "sweep", User: "bob", State: "PENDING", Reason: "Priority", Simulated: true},
		{JobID: "14", State: "FAILED", ExitCode: -1, Detail: "exit status 255"},
		{JobID: "15", Name: "tab\there", Detail: "line one\nline two\r\n\\ \x1b[31mred\x1b[0m \x7f \x00 ünïcode"},
		{Name: `\x41 is not an escape here`, Elapsed: math.MaxFloat64},
		{},
	} {
		line := AppendRow(nil, &r)
		if strings.Count(string(line), "\n") != 1 || line[len(line)-1] != '\n' || strings.Count(string(line), "\t") != rowFields-1 {
			t.Fatalf("%+v encodes as %q: not one line of %d fields", r, line, rowFields)
		}
		got, err := ParseRow(string(line[:len(line)-1]))
		if err != nil || got != r {
			t.Errorf("%+v came back as %+v (%v) from %q", r, got, err, line)
		}
	}
}

func TestParseRowRejects(t *testing.T) {
	ok := "12\thello\talice\tRUNNING\t4\tvnode1\tNone\t0\t\t0"
	if _, err := ParseRow(ok); err != nil {
		t.Fatal(err)
	}
	for name, line := range map[string]string{
		"too few fields":   "12\thello",
		"too many fields":  ok + "\tx",
		"bad elapsed":      strings.Replace(ok, "\t4\t", "\tfour\t", 1),
		"bad exit code":    strings.Replace(ok, "\t0\t\t", "\t0.5\t\t", 1),
		"bad simulated":    ok[:len(ok)-1] + "yes",
		"raw control byte": strings.Replace(ok, "hello", "he\x1bllo", 1),
		"bad escape":       strings.Replace(ok, "hello", `he\qllo`, 1),
		"short hex escape": strings.Replace(ok, "hello", `hello\x1`, 1),
		"hex of a letter":  strings.Replace(ok, "hello", `\x41`, 1),
		"trailing slash":   strings.Replace(ok, "hello", `hello\`, 1),
	} {
		if _, err := ParseRow(line); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: err = %v, want ErrProtocol", name, err)
		}
	}
}

func FuzzRow(f *testing.F) {
	f.Add("12_3", "name\twith tab", "detail\n\x1b", 3.25, -2, true)
	f.Fuzz(func(t *testing.T, id, name, detail string, elapsed float64, code int, sim bool) {
		if math.IsNaN(elapsed) {
			return // NaN != NaN; the daemon never sends one
		}
		r := QueueRow{JobID: id, Name: name, User: name, State: id, Elapsed: elapsed, Node: detail, Reason: name, ExitCode: code, Detail: detail, Simulated: sim}
		line := AppendRow(nil, &r)
		got, err := ParseRow(string(line[:len(line)-1]))
		if err != nil || got != r {
			t.Fatalf("%+v came back as %+v (%v)", r, got, err)
		}
	})
}

func FuzzParseRow(f *testing.F) {
	f.Add("12\thello\talice\tRUNNING\t4\tvnode1\tNone\t0\t\t0")
	f.Add(`1\x1b\t\\n\tu\tS\t1e3\tn\tr\t-1\td\\t\t1`)
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseRow(line)
		if err != nil {
			return
		}
		again := AppendRow(nil, &r)
		r2, err := ParseRow(string(again[:len(again)-1]))
		if err != nil || !(r2 == r || math.IsNaN(r.Elapsed)) {
			t.Fatalf("%q: %+v written again reads %+v (%v)", line, r, r2, err)
		}
	})
}
