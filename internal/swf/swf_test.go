package swf

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	in := "; Version: 2\n; MaxProcs: 100\n" +
		"1 0 10 3600 8 -1 -1 8 7200 -1 1 91 -1 -1 0 -1 -1 -1\n" +
		"2 5 -1 60 -1 -1 -1 4 -1 -1 1 -1 -1 -1 0 -1 -1 -1\n" +
		"3 9 0 1 1 -1 -1 1 5 -1\n"
	got, err := Parse(strings.NewReader(in), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []Job{
		{ID: 1, Submit: 0, Wait: 10 * time.Second, Run: time.Hour, Procs: 8, Request: 2 * time.Hour, User: 91},
		{ID: 2, Submit: 5 * time.Second, Wait: -time.Second, Run: time.Minute, Procs: 4, Request: time.Minute, User: -1},
		{ID: 3, Submit: 9 * time.Second, Wait: 0, Run: time.Second, Procs: 1, Request: 5 * time.Second, User: -1},
	}
	if len(got) != len(want) {
		t.Fatalf("%d jobs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("job %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"1 2 3", "1 x 3 4 5 6 7 8 9", "-1 0 0 0 0 0 0 0 0"} {
		if _, err := Parse(strings.NewReader(bad), 10); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestOpenInRepoTraces(t *testing.T) {
	for _, tc := range []struct {
		path string
		jobs int
	}{
		{"../../bench/replay/testdata/KTH-SP2-1996-2.1-cln.swf.gz", 28476},
		{"../../bench/replay/testdata/lublin_256.swf.gz", 10000},
	} {
		jobs, err := Open(tc.path, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != tc.jobs {
			t.Errorf("%s: %d jobs, want %d", tc.path, len(jobs), tc.jobs)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("; Version: 2\n1    5094 -1   12072  16 -1 -1 -1 -1 -1 1 -1 -1 -1 0 -1 -1 -1\n")
	f.Add("2 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n")
	f.Add("x")
	f.Fuzz(func(t *testing.T, in string) {
		jobs, err := Parse(strings.NewReader(in), 100)
		if err != nil {
			return
		}
		for _, j := range jobs {
			if j.Submit < 0 || (j.Request <= 0 && j.Run > 0) || j.User < -1 || j.Procs < -1 {
				t.Fatalf("bad record %+v from %q", j, in)
			}
		}
	})
}
