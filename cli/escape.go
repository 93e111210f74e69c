package cli

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable returns s as it is safe to print on a terminal: every character
// that is not graphic is written as a Go escape, so text from a job or a
// node (a job is root on its node, and old records predate the checks at
// submit) can neither start a line nor act on the terminal.
//
//   - newline, carriage return, tab and the other C escapes: \n \r \t \a \b \f \v
//   - other C0 controls, DEL, and bytes that are not UTF-8: \x1b \x00 \x7f \xff
//   - C1 controls (U+0080–U+009F, read as CSI and friends by some
//     terminals), bidirectional overrides and isolates, zero-width and other
//     format characters, line and paragraph separators, private-use and
//     unassigned code points: \u009b \u202e \u2028
//
// Everything else is kept, backslashes included: an escape in the output
// may have been a backslash in the text, but never a line of its own.
func Printable(s string) string {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(hex2(s[i]))
		case r < 0x80 && (r < 0x20 || r == 0x7f):
			if e, ok := cEscapes[byte(r)]; ok {
				b.WriteString(e)
			} else {
				b.WriteString(`\x`)
				b.WriteString(hex2(byte(r)))
			}
		case r >= 0x80 && !unicode.IsGraphic(r):
			q := strconv.QuoteRuneToASCII(r) // '\u202e'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

var cEscapes = map[byte]string{'\a': `\a`, '\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`, '\v': `\v`}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}
