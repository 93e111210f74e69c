package vlabmeter

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Stat
		err  bool
	}{
		{
			name: "qemu",
			line: "4242 (qemu-system-x86) S 1 4242 4242 0 -1 4194624 9012 0 0 0 731 58 0 0 20 0 4 0 1234 1 2 3\n",
			want: Stat{State: 'S', CPU: 7890 * time.Millisecond},
		},
		{
			name: "comm with spaces and parentheses",
			line: "7 (a) b) (c) R 1 7 7 0 -1 0 0 0 0 0 5 5 0 0",
			want: Stat{State: 'R', CPU: 100 * time.Millisecond},
		},
		{name: "zombie", line: "9 (q) Z 1 9 9 0 -1 0 0 0 0 0 1 2", want: Stat{State: 'Z', CPU: 30 * time.Millisecond}},
		{name: "truncated", line: "9 (q) S 1 9 9 0", err: true},
		{name: "no comm", line: "9 q S 1 9 9 0 -1 0 0 0 0 0 1 2", err: true},
		{name: "not a number", line: "9 (q) S 1 9 9 0 -1 0 0 0 0 0 x 2", err: true},
		{name: "negative", line: "9 (q) S 1 9 9 0 -1 0 0 0 0 0 -1 2", err: true},
		{name: "overflow", line: "9 (q) S 1 9 9 0 -1 0 0 0 0 0 99999999999999999999 2", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.line))
			if tt.err {
				if !errors.Is(err, ErrStat) {
					t.Fatalf("err = %v, want ErrStat", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseStat = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("4242 (qemu-system-x86) S 1 4242 4242 0 -1 4194624 9012 0 0 0 731 58 0 0 20 0 4 0 1234"))
	f.Add([]byte("7 (a) b) (c) R 1 7 7 0 -1 0 0 0 0 0 5 5 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStat(b)
		if err == nil && st.CPU < 0 {
			t.Fatalf("negative CPU time %v from %q", st.CPU, b)
		}
	})
}

func TestIsQEMUFor(t *testing.T) {
	const pf = "/lab/node1/qemu.pid"
	args := func(a ...string) []byte {
		var b []byte
		for _, s := range a {
			b = append(b, s...)
			b = append(b, 0)
		}
		return b
	}
	tests := []struct {
		name    string
		cmdline []byte
		want    bool
	}{
		{"the node's qemu", args("qemu-system-x86_64", "-m", "256", "-pidfile", pf), true},
		{"full path", args("/usr/bin/qemu-system-x86_64", "-pidfile", pf), true},
		{"another node's qemu", args("qemu-system-x86_64", "-pidfile", "/lab/node2/qemu.pid"), false},
		{"pid reused by a shell", args("bash", "-c", "-pidfile "+pf), false},
		{"pidfile as last arg", args("qemu-system-x86_64", "-pidfile"), false},
		{"zombie", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsQEMUFor(tt.cmdline, pf); got != tt.want {
				t.Errorf("IsQEMUFor(%q) = %v", tt.cmdline, got)
			}
		})
	}
}

// ProcFS against a fake proc tree: live QEMU, stale PID file, reused PID.
func TestProcFS(t *testing.T) {
	root := t.TempDir()
	lab := t.TempDir()
	proc := func(pid int, cmdline, stat string) {
		d := filepath.Join(root, strconv.Itoa(pid))
		must(t, os.MkdirAll(d, 0o755))
		must(t, os.WriteFile(filepath.Join(d, "cmdline"), []byte(cmdline), 0o644))
		must(t, os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644))
	}
	pidfile := func(node string, pid int) string {
		p := filepath.Join(lab, node, PIDFile)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(strconv.Itoa(pid)+"\n"), 0o644))
		return p
	}
	live := pidfile("node1", 100)
	proc(100, "qemu-system-x86_64\x00-pidfile\x00"+live+"\x00", "100 (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 150 50 0 0")
	stale := pidfile("node2", 200) // no such process
	reused := pidfile("node3", 300)
	proc(300, "sleep\x00100\x00", "300 (sleep) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0")
	zombie := pidfile("node4", 400)
	proc(400, "qemu-system-x86_64\x00-pidfile\x00"+zombie+"\x00", "400 (qemu-system-x86) Z 1 1 1 0 -1 0 0 0 0 0 1 1 0 0")

	p := ProcFS{Root: root}
	if pid, cpu, ok := p.QEMU(live); !ok || pid != 100 || cpu != 2*time.Second {
		t.Errorf("live: %v %v %v", pid, cpu, ok)
	}
	for _, f := range []string{stale, reused, zombie, filepath.Join(lab, "none", PIDFile)} {
		if _, _, ok := p.QEMU(f); ok {
			t.Errorf("%s: ok, want not running", f)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
