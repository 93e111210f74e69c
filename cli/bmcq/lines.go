package bmcq

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/bmc-sched/bmc/cli"
)

// Every human-readable renderer prints what it shows through line, row or
// printable: the format and the layout are the renderer's own, and every
// piece of text from the daemon is data, escaped (cli.Printable), so a
// newline in a job's command or a node's reason cannot start a line of its
// own, and an escape sequence cannot reach the terminal. --json and --csv
// print exact data instead.

// printable is cli.Printable under the short name the renderers use.
func printable(s string) string { return cli.Printable(s) }

// line prints one line: format is the renderer's text, and every argument
// that holds text (a string of any string type, an error, a Stringer) is
// escaped first; numbers keep their verbs.
func line(w io.Writer, format string, a ...any) {
	for i, v := range a {
		a[i] = escapeArg(v)
	}
	fmt.Fprintf(w, format+"\n", a...)
}

func escapeArg(v any) any {
	switch x := v.(type) {
	case string:
		return printable(x)
	case error:
		return printable(x.Error())
	case fmt.Stringer:
		return printable(x.String())
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.String {
		return printable(rv.String())
	}
	return v
}

// row prints one row of a tabwriter table: each cell escaped (a tab in a
// cell would start a column), tab-separated.
func row(w io.Writer, cells ...string) {
	var b strings.Builder
	for i, c := range cells {
		if i > 0 {
			b.WriteByte('\t')
		}
		b.WriteString(printable(c))
	}
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}

// trimmed drops empty cells at the end of a row, so an event line without a
// detail has no trailing padding.
func trimmed(cells ...string) []string {
	for len(cells) > 0 && cells[len(cells)-1] == "" {
		cells = cells[:len(cells)-1]
	}
	return cells
}
