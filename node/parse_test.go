package node

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestParseFileBad compares each bad file's whole error text with its .err
// golden file: one line per problem, with the right line number.
func TestParseFileBad(t *testing.T) {
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
			nodes, err := ParseFile(filepath.Base(f), data)
			if err == nil {
				t.Fatalf("ParseFile succeeded: %+v", nodes)
			}
			if nodes != nil {
				t.Error("nodes returned with an error")
			}
			var first *Error
			if !errors.As(err, &first) || !strings.HasPrefix(err.Error()+"\n", first.Error()+"\n") {
				t.Errorf("errors.As: %v", err)
			}
			golden(t, strings.TrimSuffix(f, ".toml")+".err", err.Error()+"\n")
		})
	}
}

func TestParseFileGood(t *testing.T) {
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
			nodes, err := ParseFile(filepath.Base(f), data)
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			out, err := json.MarshalIndent(nodes, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(f, ".toml")+".json", string(out)+"\n")
		})
	}
}

// TestParseFileExamples keeps the shipped nodes files parseable.
func TestParseFileExamples(t *testing.T) {
	files, _ := filepath.Glob("../examples/nodes*.toml")
	if len(files) == 0 {
		t.Fatal("no example nodes files in ../examples: the shipped examples are gone")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseFile(filepath.Base(f), data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestPasswordNeverRead names a password file that exists and holds a
// secret: the parsed config carries the path and nothing of its content.
func TestPasswordNeverRead(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret-value"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "[[node]]\nname = \"n1\"\narch = \"x86_64\"\ncores = 1\nmemory = 1024\n" +
		"bmc = { protocol = \"ipmi\", address = \"127.0.0.1\", password_file = " + strconvQuote(pw) + " }\n"
	nodes, err := ParseFile("n.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(nodes)
	if strings.Contains(string(out), "s3cret") || nodes[0].BMC.PasswordFile != pw || nodes[0].BMC.Port != 623 {
		t.Errorf("got %s", out)
	}
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

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

func FuzzParseFile(f *testing.F) {
	for _, name := range []string{"testdata/good/lab.toml", "testdata/good/mixed.toml", "testdata/bad/dup_mac.toml", "testdata/bad/bad_default.toml", "testdata/bad/bad_boot_joules.toml"} {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("[[node]]\n[node.bmc]\n[[node]]\nbmc = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		nodes, err := ParseFile("f.toml", data)
		if err != nil {
			if nodes != nil {
				t.Fatal("nodes and error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.toml") {
					t.Fatalf("error line without file: %q", line)
				}
			}
			return
		}
		names := map[string]bool{}
		for _, n := range nodes {
			if n.Name == "" || names[n.Name] || n.BMC.Protocol == "" || n.Cores < 1 || n.Memory < 1 || n.Kind == "" {
				t.Fatalf("accepted an incomplete or duplicate node: %+v", n)
			}
			names[n.Name] = true
		}
	})
}
