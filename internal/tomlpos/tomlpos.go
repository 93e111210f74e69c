// Package tomlpos maps the keys of a TOML document to the lines they are
// written on. Decoding into Go values loses positions; validation that runs
// after decoding asks this index where a key was, so every error can point at
// the user's line.
package tomlpos

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Index holds the line of every key, table header and array element of one
// document. Paths name array-of-tables elements by their zero-based index
// ("node", "2", "bmc", "port"), the same way for inline arrays.
type Index struct {
	lines map[string]int
}

// lineStarts maps byte offsets to line numbers in O(log n). go-toml's
// Parser.Shape counts the newlines before an offset from the start of the
// document on every call, which made indexing quadratic: 10k keys took a
// second and an 11 MB file minutes.
type lineStarts []int

func newLineStarts(data []byte) lineStarts {
	ls := lineStarts{0}
	for i, c := range data {
		if c == '\n' {
			ls = append(ls, i+1)
		}
	}
	return ls
}

// line returns the 1-based line holding byte offset off.
func (ls lineStarts) line(off int) int {
	return sort.Search(len(ls), func(i int) bool { return ls[i] > off })
}

// sep joins path components; it cannot appear in a TOML bare key, and a quoted
// key containing it only risks a wrong line number, never a wrong decode.
const sep = "\x1f"

// New indexes data. It returns the parser's error for a document that is not
// valid TOML; callers normally decode first and report the decoder's error.
func New(data []byte) (*Index, error) {
	ix := &Index{lines: make(map[string]int)}
	p := unstable.Parser{}
	p.Reset(data)
	ls := newLineStarts(data)
	counts := make(map[string]int) // array-of-tables path -> elements seen
	var cur []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			keys, line := keyParts(ls, e.Key())
			cur = ix.resolve(counts, keys)
			ix.record(cur, line)
		case unstable.ArrayTable:
			keys, line := keyParts(ls, e.Key())
			path := ix.resolve(counts, keys[:len(keys)-1])
			path = append(path, keys[len(keys)-1])
			k := strings.Join(path, sep)
			n := counts[k]
			counts[k] = n + 1
			ix.record(path, line)
			cur = append(path, strconv.Itoa(n))
			ix.record(cur, line)
		case unstable.KeyValue:
			ix.keyValue(ls, cur, e)
		}
	}
	if err := p.Error(); err != nil {
		return nil, err
	}
	return ix, nil
}

// Line returns the line (1-based) where path was written, or 0 when the
// document does not contain it.
func (ix *Index) Line(path ...string) int {
	if ix == nil {
		return 0
	}
	return ix.lines[strings.Join(path, sep)]
}

// resolve turns a header's dotted key into a path, descending into the last
// element of any array of tables on the way, as TOML does.
func (ix *Index) resolve(counts map[string]int, keys []string) []string {
	path := make([]string, 0, len(keys)+2)
	for _, k := range keys {
		path = append(path, k)
		if n := counts[strings.Join(path, sep)]; n > 0 {
			path = append(path, strconv.Itoa(n-1))
		}
	}
	return path
}

func (ix *Index) keyValue(ls lineStarts, prefix []string, kv *unstable.Node) {
	keys, line := keyParts(ls, kv.Key())
	path := append(append([]string(nil), prefix...), keys...)
	// A dotted key (a.b.c = 1) also defines a and a.b on this line.
	for i := len(prefix) + 1; i <= len(path); i++ {
		ix.record(path[:i], line)
	}
	ix.value(ls, path, kv.Value(), line)
}

func (ix *Index) value(ls lineStarts, path []string, v *unstable.Node, line int) {
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if n := it.Node(); n.Kind == unstable.KeyValue {
				ix.keyValue(ls, path, n)
			}
		}
	case unstable.Array:
		it := v.Children()
		i := 0
		for it.Next() {
			n := it.Node()
			if n.Kind == unstable.Comment {
				continue
			}
			el := append(append([]string(nil), path...), strconv.Itoa(i))
			l := nodeLine(ls, n)
			if l == 0 {
				l = line
			}
			ix.record(el, l)
			ix.value(ls, el, n, l)
			i++
		}
	}
}

// record keeps the first line a path appears on: a table header beats the
// keys that later extend it.
func (ix *Index) record(path []string, line int) {
	k := strings.Join(path, sep)
	if _, ok := ix.lines[k]; !ok {
		ix.lines[k] = line
	}
}

func keyParts(ls lineStarts, it unstable.Iterator) ([]string, int) {
	var keys []string
	line := 0
	for it.Next() {
		n := it.Node()
		if line == 0 {
			line = nodeLine(ls, n)
		}
		keys = append(keys, string(n.Data))
	}
	return keys, line
}

func nodeLine(ls lineStarts, n *unstable.Node) int {
	if n.Raw.Length == 0 {
		return 0
	}
	return ls.line(int(n.Raw.Offset))
}
