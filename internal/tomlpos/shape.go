package tomlpos

import (
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Limits bound the shape of a document that an untrusted user wrote.
//
// go-toml v2.2.4 finds a key's duplicate by scanning the keys already in
// its table, so decoding costs the square of the keys in each table (10k
// entries of one [environment] took a second, an 11 MB file minutes). A
// linear pass over the parser's expressions counts keys per table first
// and refuses a document whose decoding would be slow, with the line that
// crossed the limit. (Upstream's fix, an indexed tracker, is not released
// as of v2.2.4.)
type Limits struct {
	MaxKeys   int // keys in one table (the root, a [table], an inline table)
	MaxTables int // tables, inline tables and array-of-tables elements
}

// ShapeError is a document over Limits.
type ShapeError struct {
	Line  int
	Field string
	Msg   string
}

func (e *ShapeError) Error() string { return Format("", e.Line, e.Field, e.Msg) }

// DecodeLimited is Decode after a linear check of the document's shape.
func DecodeLimited(data []byte, lim Limits) (map[string]any, *Index, error) {
	if err := checkShape(data, lim); err != nil {
		return nil, nil, err
	}
	return Decode(data)
}

type shape struct {
	lim    Limits
	ls     lineStarts
	keys   map[string]int  // table path → distinct keys in it
	seen   map[string]bool // table path + key
	tables int
}

func checkShape(data []byte, lim Limits) error {
	p := unstable.Parser{}
	p.Reset(data)
	sh := &shape{lim: lim, ls: newLineStarts(data), keys: map[string]int{}, seen: map[string]bool{}}
	var cur []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			keys, line := keyParts(sh.ls, e.Key())
			if err := sh.table(keys, line); err != nil {
				return err
			}
			cur = keys
		case unstable.KeyValue:
			if err := sh.keyValue(cur, e); err != nil {
				return err
			}
		}
	}
	// A syntax error is Decode's to report, with its own message.
	return nil
}

func (sh *shape) table(path []string, line int) error {
	sh.tables++
	if sh.lim.MaxTables > 0 && sh.tables > sh.lim.MaxTables {
		return &ShapeError{Line: line, Field: strings.Join(path, "."), Msg: fmt.Sprintf("more than %d tables", sh.lim.MaxTables)}
	}
	return nil
}

func (sh *shape) keyValue(table []string, kv *unstable.Node) error {
	keys, line := keyParts(sh.ls, kv.Key())
	if len(keys) == 0 {
		return nil
	}
	// a.b.c = 1 puts b in a and c in a.b.
	path := append(append([]string(nil), table...), keys...)
	parent := len(table)
	for i := parent; i < len(path); i++ {
		k := strings.Join(path[:i], sep)
		if full := k + sep + path[i]; !sh.seen[full] {
			sh.seen[full] = true
			sh.keys[k]++
		}
		if sh.lim.MaxKeys > 0 && sh.keys[k] > sh.lim.MaxKeys {
			field := strings.Join(path[:i], ".")
			return &ShapeError{Line: line, Field: field, Msg: fmt.Sprintf("more than %d keys in one table", sh.lim.MaxKeys)}
		}
	}
	return sh.value(path, kv.Value(), line)
}

func (sh *shape) value(path []string, v *unstable.Node, line int) error {
	switch v.Kind {
	case unstable.InlineTable:
		if err := sh.table(path, line); err != nil {
			return err
		}
		it := v.Children()
		for it.Next() {
			if n := it.Node(); n.Kind == unstable.KeyValue {
				if err := sh.keyValue(path, n); err != nil {
					return err
				}
			}
		}
	case unstable.Array:
		it := v.Children()
		for i := 0; it.Next(); i++ {
			n := it.Node()
			if n.Kind == unstable.InlineTable || n.Kind == unstable.Array {
				// Each element is its own table: keys never collide across them.
				el := append(append([]string(nil), path...), fmt.Sprint(i))
				if err := sh.value(el, n, line); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
