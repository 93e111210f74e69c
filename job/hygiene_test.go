package job

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestControlCharactersRefused(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"ESC in the name", "name = \"a\\u001b[2Jb\"\n", `job.toml:3: name: "a\x1b[2Jb" must not contain '/' or control characters`},
		{"CR in the command", "command = \"true\\rJobId=999 User=root\"\n", "job.toml:2: command: control character U+000D at byte 4 is not allowed (only newline and tab are)"},
		{"ESC in an argument", "command = [\"echo\", \"\\u001b]0;x\\u0007\"]\n", "job.toml:2: command: argument 2: control character U+001B at byte 0 is not allowed"},
		{"C1 in the command", "command = \"echo \\u009b2J\"\n", "control character U+009B at byte 5"},
		{"ESC in an environment value", "[environment]\nA = \"x\\u001by\"\n", "job.toml:4: environment.A: control character U+001B at byte 1"},
		{"newline in an output path", "output = \"a\\nb\"\n", `job.toml:3: output: "a\nb" must not contain control characters`},
		{"newline in the schedule", "schedule = \"@daily\\nx\"\n", "schedule: \"@daily\\nx\" must not contain control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := "image = \"busybox\"\n"
			if !strings.Contains(tt.file, "command") {
				file += "command = \"true\"\n"
			}
			file += tt.file
			_, err := Parse("job.toml", []byte(file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Count(err.Error(), "\n") != 0 {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
	// Multi-line scripts and tabs are fine.
	s, err := Parse("job.toml", []byte("image = \"busybox\"\ncommand = \"\"\"\nset -e\n\techo hi\n\"\"\"\n[environment]\nB = \"one\\ttwo\\nthree\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Environment["B"] != "one\ttwo\nthree" {
		t.Fatalf("env = %q", s.Environment)
	}
	// Validate (the server's check) refuses what a hostile client sends
	// without a job file.
	v := Spec{Image: "busybox", Nodes: 1, Command: Command{Shell: true, Argv: []string{"true\x1b[1A"}}}
	if err := v.Validate(); err == nil || !strings.Contains(err.Error(), "command: control character U+001B") {
		t.Fatalf("Validate: %v", err)
	}
	v = Spec{Image: "busybox", Nodes: 1, Command: Command{Argv: []string{"true"}}, Environment: map[string]string{"A\nB": "x"}}
	if err := v.Validate(); err == nil || !strings.Contains(err.Error(), `is not a variable name`) {
		t.Fatalf("Validate env name: %v", err)
	}
	v = Spec{Image: "busybox", Nodes: 1, Command: Command{Argv: []string{"true"}}, Name: "ok\xff"}
	if err := v.Validate(); err == nil {
		t.Fatal("Validate accepted a name that is not UTF-8")
	}
}

func TestJobFileSizeCap(t *testing.T) {
	big := "image = \"busybox\"\ncommand = \"true\"\n# " + strings.Repeat("x", MaxFileBytes) + "\n"
	_, err := Parse("big.toml", []byte(big))
	if !errors.Is(err, ErrTooLarge) || err.Error() != fmt.Sprintf("big.toml: %d bytes; a job file may have at most 1048576 (1 MiB)", len(big)) {
		t.Fatalf("err = %v", err)
	}
}

// envFile is a job file with n environment entries.
func envFile(n int) []byte {
	var b strings.Builder
	b.WriteString("image = \"busybox\"\ncommand = \"true\"\n[environment]\n")
	for i := range n {
		fmt.Fprintf(&b, "VAR_%d = \"value %d\"\n", i, i)
	}
	return []byte(b.String())
}

// 10k environment entries took a second and an 11 MB file minutes: go-toml
// checks each key against the keys before it in its table. A job file is
// now capped in size and in keys per table, each with a one-line error.
func TestHeavyJobFiles(t *testing.T) {
	_, err := Parse("env.toml", envFile(10_000))
	if !errors.Is(err, ErrTooLarge) || err.Error() != "env.toml:1004: environment: more than 1000 keys in one table (a job file's limit)" {
		t.Fatalf("10k entries: %v", err)
	}
	s, err := Parse("env.toml", envFile(1000))
	if err != nil || len(s.Environment) != 1000 {
		t.Fatalf("1000 entries: %v", err)
	}
	huge := envFile(500_000) // ~12 MB
	if _, err := Parse("huge.toml", huge); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "a job file may have at most 1048576") {
		t.Fatalf("12 MB: %v", err)
	}
	// Keys spread over many tables.
	var b strings.Builder
	for i := range 17 {
		fmt.Fprintf(&b, "[t%d]\na = 1\n", i)
	}
	if _, err := Parse("tables.toml", []byte(b.String())); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "tables.toml:33: t16: more than 16 tables") {
		t.Fatalf("17 tables: %v", err)
	}
	// A bad entry near the end still gets its own line.
	bad := append(envFile(999), "9X = \"y\"\n"...)
	if _, err := Parse("env.toml", bad); err == nil || !strings.Contains(err.Error(), "env.toml:1003: environment.9X") {
		t.Fatalf("err = %v", err)
	}
}

// worstFile is the slowest job file the limits allow: 16 tables of 1000
// keys (unknown fields, refused after decoding).
func worstFile() []byte {
	var b strings.Builder
	for i := range 15 {
		fmt.Fprintf(&b, "[t%d]\n", i)
		for k := range 1000 {
			fmt.Fprintf(&b, "k%d=1\n", k)
		}
	}
	return []byte(b.String())
}

// commandFile is a valid job file of about n bytes: a long script, a long
// feature list and a full environment.
func commandFile(n int) []byte {
	var b strings.Builder
	b.WriteString("image = \"busybox\"\nfeatures = [")
	for i := range n / 64 {
		fmt.Fprintf(&b, "\"f%d\", ", i)
	}
	b.WriteString("]\ncommand = \"\"\"\n")
	for b.Len() < n*3/4 {
		b.WriteString("echo a line of the job's script\n")
	}
	b.WriteString("\"\"\"\n[environment]\n")
	for i := 0; b.Len() < n && i < 1000; i++ {
		fmt.Fprintf(&b, "VAR_%d = \"value %d\"\n", i, i)
	}
	return []byte(b.String())
}

// BenchmarkParseJobFile shows parsing time growing with the file's size
// (ns/byte flat from 16 KiB to 960 KiB), and the cost of the worst file the
// limits admit.
func BenchmarkParseJobFile(b *testing.B) {
	for _, n := range []int{16 << 10, 128 << 10, 960 << 10} {
		data := commandFile(n)
		b.Run(fmt.Sprintf("bytes=%d", len(data)), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Parse("job.toml", data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(data)), "ns/byte")
		})
	}
	data := worstFile()
	b.Run(fmt.Sprintf("worst=%d", len(data)), func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := Parse("job.toml", data); err == nil {
				b.Fatal("accepted")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(data)), "ns/byte")
	})
}
