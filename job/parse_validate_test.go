package job

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestCheckImage(t *testing.T) {
	good := []string{
		"busybox", "busybox:1.36", "docker.io/library/busybox:latest",
		"ghcr.io/org/app@sha256:" + strings.Repeat("a", 64),
		"localhost:5000/app:v1", "oci:/var/lib/bmc/images/busybox",
		"oci:/var/lib/bmc/images/busybox:1.36", "oci:/a:b/c", "app.tar", "images/app.tar.gz",
		"/srv/img/app.tar",
	}
	bad := []string{
		"", "Busybox", "busybox:", "oci:", "oci:relative/dir", "oci:/dir:bad tag",
		"/var/lib/bmc/images/busybox", "./app", "../img.zip", " busybox", "busy\nbox", "http://x/app",
	}
	for _, s := range good {
		if err := CheckImage(s); err != nil {
			t.Errorf("CheckImage(%q): %v", s, err)
		}
	}
	for _, s := range bad {
		if err := CheckImage(s); err == nil {
			t.Errorf("CheckImage(%q) accepted", s)
		}
	}
}

func TestCheckArtifact(t *testing.T) {
	for _, s := range []string{"https://example.org/vmlinuz", "http://10.0.2.2:8080/k", "/boot/vmlinuz", "debian-12", "vmlinuz-6.1.0_amd64"} {
		if err := checkArtifact(s); err != nil {
			t.Errorf("checkArtifact(%q): %v", s, err)
		}
	}
	for _, s := range []string{"ftp://x/k", "http://", "relative/path", "..", ".", "a b", "https://x/\n", "name!"} {
		if err := checkArtifact(s); err == nil {
			t.Errorf("checkArtifact(%q) accepted", s)
		}
	}
}

func TestNormalizeArch(t *testing.T) {
	for in, want := range map[string]string{"amd64": "x86_64", "X86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64", "any": "any", "": ""} {
		if got, err := NormalizeArch(in); err != nil || got != want {
			t.Errorf("NormalizeArch(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := NormalizeArch("riscv64"); err == nil {
		t.Error("riscv64 accepted")
	}
}

func validSpec() Spec {
	return Spec{Image: "busybox", Command: Command{Shell: true, Argv: []string{"true"}}, Nodes: 1}
}

// TestValidate changes one field of a valid spec at a time and checks the
// field the error names: bmcsubmit relies on Field to blame the right flag.
func TestValidate(t *testing.T) {
	if s := validSpec(); s.Validate() != nil {
		t.Fatalf("valid spec rejected: %v", s.Validate())
	}
	tests := []struct {
		field string
		edit  func(*Spec)
	}{
		{"image", func(s *Spec) { s.Image = "" }},
		{"image", func(s *Spec) { s.Image = "NOT VALID" }},
		{"name", func(s *Spec) { s.Name = "a/b" }},
		{"kernel", func(s *Spec) { s.Kernel = "a b" }},
		{"initrd", func(s *Spec) { s.Initrd = "ftp://x" }},
		{"cmdline", func(s *Spec) { s.Cmdline = strings.Repeat("x", MaxCmdlineLen+1) }},
		{"command", func(s *Spec) { s.Command = Command{} }},
		{"command", func(s *Spec) { s.Command = Command{Shell: true, Argv: []string{"a", "b"}} }},
		{"command", func(s *Spec) { s.Command = Command{Argv: []string{" "}} }},
		{"command", func(s *Spec) { s.Command = Command{Argv: []string{"a", "b\x00"}} }},
		{"arch", func(s *Spec) { s.Arch = "amd64" }},
		{"arch", func(s *Spec) { s.Arch = "sparc" }},
		{"features", func(s *Spec) { s.Features = []string{"ok", "not ok"} }},
		{"cores", func(s *Spec) { s.Cores = -1 }},
		{"memory", func(s *Spec) { s.Memory = -1 }},
		{"nodes", func(s *Spec) { s.Nodes = 2 }},
		{"nodes", func(s *Spec) { s.Nodes = -1 }},
		{"time_limit", func(s *Spec) { s.TimeLimit = -1 }},
		{"time_limit", func(s *Spec) { s.TimeLimit = Duration(MaxDuration + time.Second) }},
		{"account", func(s *Spec) { s.Account = "a b" }},
		{"partition", func(s *Spec) { s.Partition = "p/q" }},
		{"nice", func(s *Spec) { s.Nice = MaxNice + 1 }},
		{"nice", func(s *Spec) { s.Nice = MinNice - 1 }},
		{"output", func(s *Spec) { s.Output = "%z" }},
		{"error", func(s *Spec) { s.Error = "x\ny" }},
		{"environment.1X", func(s *Spec) { s.Environment = map[string]string{"1X": "a"} }},
		{"environment.X", func(s *Spec) { s.Environment = map[string]string{"X": "a\x00"} }},
		{"user", func(s *Spec) { s.RunAs = "root;rm" }},
		{"array", func(s *Spec) { s.Array = &ArraySpec{Text: "x"} }},
		{"array", func(s *Spec) { s.Array = &ArraySpec{Text: "x", Tasks: []int{2, 1}} }},
		{"array", func(s *Spec) { s.Array = &ArraySpec{Text: "x", Tasks: []int{1}, MaxParallel: -1} }},
		{"depends_on", func(s *Spec) { s.DependsOn = []Dependency{{Type: AfterOK}} }},
		{"depends_on", func(s *Spec) { s.DependsOn = []Dependency{{Type: Singleton, JobID: 3}} }},
		{"depends_on", func(s *Spec) { s.DependsOn = []Dependency{{Type: "before", JobID: 3}} }},
		{"schedule", func(s *Spec) { s.Schedule = "* * *" }},
		{"schedule", func(s *Spec) { s.Schedule = "0 0 * * * *" }}, // seconds field: not standard
		{"sim.load", func(s *Spec) { s.Sim = &SimSpec{Load: math.NaN()} }},
		{"sim.load", func(s *Spec) { s.Sim = &SimSpec{Load: -0.1} }},
		{"sim.exit_code", func(s *Spec) { s.Sim = &SimSpec{ExitCode: 256} }},
		{"sim.runtime", func(s *Spec) { s.Sim = &SimSpec{Runtime: -1} }},
	}
	for _, tt := range tests {
		s := validSpec()
		tt.edit(&s)
		err := s.Validate()
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: Validate = %v, want a *Error", tt.field, err)
			continue
		}
		if e.Field != tt.field || e.Line != 0 || e.File != "" || strings.Contains(e.Error(), "\n") {
			t.Errorf("%s: got %q (field %q)", tt.field, e.Error(), e.Field)
		}
	}
	// Unset values the controller fills in are fine.
	s := validSpec()
	s.Nodes = 0
	s.Schedule = "@daily"
	s.Arch = ArchAny
	if err := s.Validate(); err != nil {
		t.Errorf("nodes 0 / @daily / any: %v", err)
	}
	// Several problems come back as a list, in field order.
	s = validSpec()
	s.Image, s.Cores = "", -1
	var list ErrorList
	if err := s.Validate(); !errors.As(err, &list) || len(list) != 2 || list[0].Field != "image" {
		t.Errorf("two problems: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("image = \"busybox\"\ncommand = \"true\"\n"))
	f.Add([]byte("image = \"oci:/x:1\"\ncommand = [\"a\", \"b\"]\ntime_limit = 90\narray = \"1-3%2\"\n[sim]\nload = 0.5\n"))
	f.Add([]byte("imag = 1\n[environment]\n\"A.B\" = 3\n[[sim]]\n"))
	f.Add([]byte("a = 1\na = 2\n"))
	f.Add([]byte("depends_on = [\"afterok:1\", 3]\nbegin = 2026-01-01\nmemory = \"4G\"\n"))
	f.Add([]byte("image = \"busybox\"\ncommand = \"true\"\nreuse = false\n"))
	f.Add([]byte("image = \"busybox\"\ncommand = \"true\"\nreuse = \"no\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.toml", data)
		if err != nil {
			if s != nil {
				t.Fatal("spec and error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.toml") {
					t.Fatalf("error line without file: %q", line)
				}
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not a *Error", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate rejects: %v", err)
		}
	})
}
