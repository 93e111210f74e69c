package proc

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	data := []byte("Name:\tbmcctld\nVmHWM:\t   82404 kB\nVmRSS:\t   49312 kB\nRssAnon:\t   31500 kB\nThreads:\t9\nbroken: x kB\n")
	got := ParseStatus(data)
	want := map[string]float64{"VmHWM": 82404, "VmRSS": 49312, "RssAnon": 31500}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := map[string]struct {
		in   string
		want time.Duration
	}{
		"plain":             {"42 (bmcctld) S 1 42 42 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 9 0", 1750 * time.Millisecond},
		"name with ) and  ": {"42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 9 0", 100 * time.Millisecond},
		"truncated":         {"42 (x) S 1 2", 0},
		"no name":           {"garbage", 0},
		"not numbers":       {"42 (x) S 1 42 42 0 -1 4194560 100 0 0 0 a b 0 0", 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ParseStatCPU([]byte(tc.in)); got != tc.want {
				t.Errorf("ParseStatCPU(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// The live file parses and this test process has used some CPU.
func TestProcCPUOfSelf(t *testing.T) {
	for i := 0; CPU(os.Getpid()) == 0; i++ {
		if i > 1e8 {
			t.Fatal("procCPU of this process stayed 0")
		}
	}
}

// Whatever the command name holds, the CPU fields after it are found.
func FuzzParseStatCPU(f *testing.F) {
	f.Add("bmcctld", uint32(150), uint32(25))
	f.Add("a) b (c", uint32(7), uint32(3))
	f.Fuzz(func(t *testing.T, name string, utime, stime uint32) {
		line := fmt.Sprintf("42 (%s) S 1 42 42 0 -1 4194560 100 0 0 0 %d %d 0 0 20 0 9 0\n", name, utime, stime)
		want := time.Duration(uint64(utime)+uint64(stime)) * 10 * time.Millisecond
		if got := ParseStatCPU([]byte(line)); got != want {
			t.Fatalf("ParseStatCPU(%q) = %v, want %v", line, got, want)
		}
	})
}

// A "Key: N kB" line is read back for any key without ':' or a newline.
func FuzzParseStatus(f *testing.F) {
	f.Add("VmRSS", uint32(49312))
	f.Fuzz(func(t *testing.T, key string, kb uint32) {
		if strings.ContainsAny(key, ":\n") {
			t.Skip()
		}
		data := fmt.Sprintf("Name:\tx\n%s:\t %d kB\nThreads:\t9\n", key, kb)
		if got := ParseStatus([]byte(data)); got[key] != float64(kb) {
			t.Fatalf("ParseStatus(%q)[%q] = %v, want %d", data, key, got[key], kb)
		}
	})
}

// Each loop runs its command n times; a failing command fails the loops.
func TestShellLoops(t *testing.T) {
	dir := t.TempDir()
	if _, err := ShellLoops(context.Background(), dir, nil, 2, 3, "sh", "-c", "echo x >> count"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(dir + "/count")
	if err != nil || strings.Count(string(data), "x") != 6 {
		t.Errorf("ran %q, %v; want 6 runs", data, err)
	}
	if _, err := ShellLoops(context.Background(), dir, []string{"CODE=3"}, 1, 2, "sh", "-c", `exit "$CODE"`); err == nil {
		t.Error("a failing command did not fail the loop")
	}
}
