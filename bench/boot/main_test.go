package main

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseStartcmd(t *testing.T) {
	b, err := os.ReadFile("testdata/startcmd")
	if err != nil {
		t.Fatal(err)
	}
	args, err := parseStartcmd(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if args[0] != "qemu-system-x86_64" || args[len(args)-1] != "/tmp/lab/node1/qemu.pid" || len(args) != 33 {
		t.Errorf("argv %d fields: %q", len(args), args)
	}
	if _, err := parseStartcmd("#!/bin/sh\necho no exec here\n"); err == nil {
		t.Error("a startcmd without exec parsed")
	}
}

func TestBareArgs(t *testing.T) {
	b, _ := os.ReadFile("testdata/startcmd")
	node, err := parseStartcmd(string(b))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(bareArgs(node, config{barePort: 38160}, "/b/serial.log", "/b/qemu.pid"), " ")
	want := "qemu-system-x86_64 -name vnode1-bare -machine pc -accel tcg -m 256 -smp 1 -display none -monitor none -boot n" +
		" -netdev user,id=n0,bootfile=http://10.0.2.2:38160/boot.ipxe -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01" +
		" -device ipmi-bmc-sim,id=bmc0 -device isa-ipmi-kcs,bmc=bmc0" +
		" -chardev file,id=ser0,path=/b/serial.log -serial chardev:ser0 -pidfile /b/qemu.pid"
	if got != want {
		t.Errorf("bare QEMU command\n got %s\nwant %s", got, want)
	}
}

func TestParseGuest(t *testing.T) {
	b, err := os.ReadFile("testdata/job-console.txt")
	if err != nil {
		t.Fatal(err)
	}
	g := parseGuest(b)
	ms := func(s string) time.Duration { d, _ := time.ParseDuration(s); return d }
	for _, tc := range []struct {
		key  string
		want time.Duration
	}{
		{"init", ms("2.091938s")},
		{"modules", ms("2.634s")},
		{"entropy", ms("3.667s")},
		{"link", ms("3.835s")},
		{"lease", ms("3.903s")},
		{"rootfs", ms("4.330s")},
		{"ready", ms("4.409s")},
		{"ssh", ms("4.456s")},
		{"command", ms("4.502s")},
	} {
		if got := g[tc.key]; (got - tc.want).Abs() > time.Microsecond {
			t.Errorf("%s at %v, want %v", tc.key, got, tc.want)
		}
	}
	if d := g.span("entropy", "lease"); (d - ms("236ms")).Abs() > time.Microsecond {
		t.Errorf("entropy → lease %v, want 236ms", d)
	}
	if d := g.span("init", "nothing"); d != -time.Second {
		t.Errorf("span to a missing event %v, want the −1 s sentinel", d)
	}
}

func TestStat(t *testing.T) {
	s := func(v ...float64) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x*float64(time.Second)))
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		want string
	}{
		{s(3, 1, 2), "  2.00 s  (1.00 – 3.00)"},
		{s(4, 1, 2, 3), "  2.50 s  (1.00 – 4.00)"},
		{s(-0.5), " -0.50 s  (-0.50 – -0.50)"},
	} {
		in := slices.Clone(tc.in)
		if got := stat(tc.in); got != tc.want {
			t.Errorf("stat(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("stat sorted its input")
		}
	}
}

func FuzzParseGuest(f *testing.F) {
	b, _ := os.ReadFile("testdata/job-console.txt")
	f.Add(b)
	f.Add([]byte("bmcinit: [   x] ready addr=\n[ 1e400] Run /bmcinit as init process"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k, v := range parseGuest(b) {
			if v < 0 {
				t.Errorf("%s at negative uptime %v", k, v)
			}
		}
	})
}

func FuzzParseStartcmd(f *testing.F) {
	b, _ := os.ReadFile("testdata/startcmd")
	f.Add(string(b))
	f.Add("exec\\\n")
	f.Fuzz(func(t *testing.T, s string) {
		args, err := parseStartcmd(s)
		if err == nil && len(args) == 0 {
			t.Error("no error and no argv")
		}
		if err == nil {
			bareArgs(args, config{barePort: 1}, "s", "p") // must not panic
		}
	})
}
