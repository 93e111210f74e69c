package tomlpos

import (
	"errors"
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
