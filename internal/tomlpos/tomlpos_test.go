package tomlpos

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestIndexLines(t *testing.T) {
	doc := `# comment
top = 1
dotted.key = "x"

[defaults]
arch = "x86_64"
bmc = { protocol = "ipmi", port = 623 }

[[node]]
name = "a"
list = [
  "one",
  "two",
]
[node.bmc]
port = 9001

[[node]]
name = "b"
[node.bmc]
port = 9002
`
	ix, err := New([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path []string
		want int
	}{
		{[]string{"top"}, 2},
		{[]string{"dotted"}, 3},
		{[]string{"dotted", "key"}, 3},
		{[]string{"defaults"}, 5},
		{[]string{"defaults", "arch"}, 6},
		{[]string{"defaults", "bmc", "port"}, 7},
		{[]string{"node"}, 9},
		{[]string{"node", "0"}, 9},
		{[]string{"node", "0", "name"}, 10},
		{[]string{"node", "0", "list"}, 11},
		{[]string{"node", "0", "list", "1"}, 13},
		{[]string{"node", "0", "bmc"}, 15},
		{[]string{"node", "0", "bmc", "port"}, 16},
		{[]string{"node", "1"}, 18},
		{[]string{"node", "1", "name"}, 19},
		{[]string{"node", "1", "bmc", "port"}, 21},
		{[]string{"missing"}, 0},
		{[]string{"node", "2"}, 0},
	}
	for _, tt := range tests {
		if got := ix.Line(tt.path...); got != tt.want {
			t.Errorf("Line(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
}

func TestDecodeSyntaxLine(t *testing.T) {
	tests := []struct {
		doc  string
		line int
	}{
		{"a = 1\nb = \"x\n", 2},
		{"a = 1\nb = 2\na = 3\n", 3},                // duplicate key: go-toml gives no position
		{"[t]\nx = 1\n[u]\ny = 2\n[t]\nz = 3\n", 5}, // redefined table
		{"a = 1\n\n[a.b]\nc = 1\n", 3},              // key used as a table
		{"x = [1,\n2,\n}\n", 3},
	}
	for _, tt := range tests {
		_, _, err := Decode([]byte(tt.doc))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v is not a SyntaxError", tt.doc, err)
			continue
		}
		if se.Line != tt.line {
			t.Errorf("%q: line %d (%s), want %d", tt.doc, se.Line, se.Msg, tt.line)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"image", "time_limit", "depends_on", "memory"}
	for in, want := range map[string]string{"imag": "image", "Image": "image", "time": "time_limit",
		"depends": "depends_on", "memroy": "memory", "zzz": "", "timelimit": "time_limit"} {
		if got := Suggest(in, known); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeBOM(t *testing.T) {
	m, ix, err := Decode([]byte("\xef\xbb\xbfa = 1\nb = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m["a"] != int64(1) || ix.Line("b") != 2 {
		t.Errorf("m = %v, line(b) = %d", m, ix.Line("b"))
	}
}

func TestShapeLimits(t *testing.T) {
	lim := Limits{MaxKeys: 3, MaxTables: 2}
	tests := []struct {
		doc, want string
	}{
		{"a = 1\nb = 2\nc = 3\n", ""},
		{"a = 1\nb = 2\nc = 3\nd = 4\n", "line 4: more than 3 keys in one table"},
		{"[t]\na = 1\nb = 2\nc = 3\nd = 4\n", "line 5: t: more than 3 keys in one table"},
		{"x.a = 1\nx.b = 2\nx.c = 3\nx.d = 4\n", "line 4: x: more than 3 keys in one table"},
		{"t = { a = 1, b = 2, c = 3, d = 4 }\n", "line 1: t: more than 3 keys in one table"},
		{"[a]\n[b]\n[c]\n", "line 3: c: more than 2 tables"},
		{"l = [{a = 1}, {a = 1}, {a = 1}]\n", "line 1: l.2: more than 2 tables"},
		{"a = [1, 2, 3, 4, 5, 6]\n", ""},
		{"a = \n", "invalid TOML"}, // syntax errors are Decode's
	}
	for _, tt := range tests {
		_, _, err := DecodeLimited([]byte(tt.doc), lim)
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.doc, err, tt.want)
		}
	}
}

func FuzzDecodeLimited(f *testing.F) {
	for _, s := range []string{"a = 1\n[t]\nb.c = 2\n", "x = [{a=1},{b=2}]\n[[n]]\nm = 1\n", "a = \"\"\"\nx\n\"\"\"\n", "t = {a = {b = 1}}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ix, err := DecodeLimited(data, Limits{MaxKeys: 8, MaxTables: 4})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for k := range m {
			if l := ix.Line(k); l < 0 || l > lines {
				t.Fatalf("key %q on line %d of %d", k, l, lines)
			}
		}
	})
}
