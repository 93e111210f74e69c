package tomlpos

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// SyntaxError is a document that is not valid TOML (including duplicate keys
// and redefined tables), with the line the decoder stopped on.
type SyntaxError struct {
	Line int
	Msg  string // one line, without go-toml's "toml: " prefix
}

func (e *SyntaxError) Error() string { return "invalid TOML: " + e.Msg }

// Decode reads data into generic values (tables are map[string]any, integers
// int64, floats float64, date-times time.Time or toml.Local*) and indexes the
// line of every key. The generic form lets callers report a wrong type with
// the key's line instead of go-toml's struct-decoding message.
func Decode(data []byte) (map[string]any, *Index, error) {
	// Some editors start UTF-8 files with a byte order mark; TOML does not
	// allow it, but it carries no meaning and no line.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var m map[string]any
	dec := toml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, _ := de.Position()
			return nil, nil, &SyntaxError{Line: line, Msg: OneLine(strings.TrimPrefix(de.Error(), "toml: "))}
		}
		return nil, nil, &SyntaxError{Line: failingLine(data), Msg: OneLine(strings.TrimPrefix(err.Error(), "toml: "))}
	}
	if m == nil {
		m = map[string]any{}
	}
	ix, err := New(data)
	if err != nil {
		// The decoder accepted what the parser rejects: report it rather
		// than guess lines.
		return nil, nil, &SyntaxError{Msg: OneLine(err.Error())}
	}
	return m, ix, nil
}

// failingLine finds the line of the first expression that makes the document
// fail to decode. go-toml reports duplicate keys and redefined tables without
// a position, so decode ever longer prefixes, cut at line starts between
// expressions, and bisect: once a prefix fails, every longer one does.
func failingLine(data []byte) int {
	p := unstable.Parser{}
	p.Reset(data)
	ls := newLineStarts(data)
	var starts []int // byte offset of the line each expression begins on
	var lines []int
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind != unstable.KeyValue && e.Kind != unstable.Table && e.Kind != unstable.ArrayTable {
			continue
		}
		it := e.Key()
		if !it.Next() || it.Node().Raw.Length == 0 {
			continue
		}
		line := ls.line(int(it.Node().Raw.Offset))
		starts = append(starts, ls[line-1])
		lines = append(lines, line)
	}
	fails := func(k int) bool { // does the prefix holding expressions 0..k fail?
		end := len(data)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		var m map[string]any
		return toml.Unmarshal(data[:end], &m) != nil
	}
	k := sort.Search(len(starts), fails)
	if k == len(starts) {
		return 0
	}
	return lines[k]
}

// OneLine folds a message onto one line so every error stays one line.
func OneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// TypeName is the TOML name of a decoded value's type, as users see it in
// "must be an integer, not a string".
func TypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time, toml.LocalDateTime:
		return "a date-time"
	case toml.LocalDate:
		return "a date"
	case toml.LocalTime:
		return "a time"
	}
	return fmt.Sprintf("a %T", v)
}

// Suggest returns the known name closest to key when it is a likely typo
// (edit distance at most 2, or one is a prefix of the other), else "".
func Suggest(key string, known []string) string {
	best, bestD := "", 3
	lk := strings.ToLower(key)
	for _, k := range known {
		d := distance(lk, k)
		if d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" && len(lk) >= 3 {
		for _, k := range known {
			if strings.HasPrefix(k, lk) || strings.HasPrefix(lk, k) {
				return k
			}
		}
	}
	return best
}

// distance is the Levenshtein distance; keys are short, so the quadratic
// table is cheap.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Format renders the one-line error form shared by the job and nodes files:
// "file:line: field: msg", leaving out what is unknown.
func Format(file string, line int, field, msg string) string {
	var b strings.Builder
	switch {
	case file != "" && line > 0:
		b.WriteString(file + ":" + strconv.Itoa(line) + ": ")
	case file != "":
		b.WriteString(file + ": ")
	case line > 0:
		b.WriteString("line " + strconv.Itoa(line) + ": ")
	}
	if field != "" {
		b.WriteString(field + ": ")
	}
	b.WriteString(OneLine(msg))
	return b.String()
}
