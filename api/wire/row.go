package wire

import (
	"fmt"
	"strconv"
	"strings"
)

// QueueRow is one job as the queue table shows it, and nothing more: a
// listing of 10,000 jobs as JSON rows was 2.5 MB that bmcq decoded with
// reflection before printing a line.
type QueueRow struct {
	JobID     string
	Name      string
	User      string
	State     string
	Elapsed   float64 // seconds since allocation
	Node      string
	Reason    string
	ExitCode  int
	Detail    string
	Simulated bool
}

const rowFields = 10

// AppendRow appends r as one line: its fields in QueueRow's order,
// separated by tabs, ended by '\n'. In strings, '\\', '\t', '\n', '\r' and
// other control bytes are escaped, so any value survives.
func AppendRow(dst []byte, r *QueueRow) []byte {
	dst = appendField(dst, r.JobID)
	dst = appendField(append(dst, '\t'), r.Name)
	dst = appendField(append(dst, '\t'), r.User)
	dst = appendField(append(dst, '\t'), r.State)
	dst = strconv.AppendFloat(append(dst, '\t'), r.Elapsed, 'g', -1, 64)
	dst = appendField(append(dst, '\t'), r.Node)
	dst = appendField(append(dst, '\t'), r.Reason)
	dst = strconv.AppendInt(append(dst, '\t'), int64(r.ExitCode), 10)
	dst = appendField(append(dst, '\t'), r.Detail)
	dst = append(dst, '\t')
	if r.Simulated {
		dst = append(dst, '1')
	} else {
		dst = append(dst, '0')
	}
	return append(dst, '\n')
}

func needsEscape(c byte) bool { return c < 0x20 || c == 0x7f || c == '\\' }

func appendField(dst []byte, s string) []byte {
	i := 0
	for i < len(s) && !needsEscape(s[i]) {
		i++
	}
	if i == len(s) {
		return append(dst, s...)
	}
	const hex = "0123456789abcdef"
	dst = append(dst, s[:i]...)
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			dst = append(dst, `\\`...)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case needsEscape(c):
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// ParseRow reads one line written by AppendRow, without its '\n'. Strings
// that need no unescaping share line's memory.
func ParseRow(line string) (QueueRow, error) {
	var f [rowFields]string
	n := 0
	for n < rowFields-1 {
		i := strings.IndexByte(line, '\t')
		if i < 0 {
			return QueueRow{}, fmt.Errorf("%w: a queue row of %d fields, want %d", ErrProtocol, n+1, rowFields)
		}
		f[n], line = line[:i], line[i+1:]
		n++
	}
	if strings.IndexByte(line, '\t') >= 0 {
		return QueueRow{}, fmt.Errorf("%w: a queue row of more than %d fields", ErrProtocol, rowFields)
	}
	f[n] = line
	var r QueueRow
	var err error
	for i, dst := range []*string{&r.JobID, &r.Name, &r.User, &r.State, nil, &r.Node, &r.Reason, nil, &r.Detail} {
		if dst != nil {
			if *dst, err = unescape(f[i]); err != nil {
				return QueueRow{}, err
			}
		}
	}
	if r.Elapsed, err = strconv.ParseFloat(f[4], 64); err != nil {
		return QueueRow{}, fmt.Errorf("%w: elapsed %q", ErrProtocol, f[4])
	}
	if r.ExitCode, err = strconv.Atoi(f[7]); err != nil {
		return QueueRow{}, fmt.Errorf("%w: exit code %q", ErrProtocol, f[7])
	}
	switch f[9] {
	case "0":
	case "1":
		r.Simulated = true
	default:
		return QueueRow{}, fmt.Errorf("%w: simulated %q", ErrProtocol, f[9])
	}
	return r, nil
}

func unescape(s string) (string, error) {
	esc := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' {
			esc = true
		} else if needsEscape(c) {
			return "", fmt.Errorf("%w: an unescaped control byte in a queue row", ErrProtocol)
		}
	}
	if !esc {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := strings.IndexByte(s, '\\'); i >= 0; i = strings.IndexByte(s, '\\') {
		b = append(b, s[:i]...)
		if i+1 >= len(s) {
			return "", fmt.Errorf("%w: a queue row field ends in '\\'", ErrProtocol)
		}
		n := 2
		switch s[i+1] {
		case '\\':
			b = append(b, '\\')
		case 't':
			b = append(b, '\t')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 'x':
			n = 4
			if i+n > len(s) {
				return "", fmt.Errorf("%w: a short \\x escape in a queue row", ErrProtocol)
			}
			v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil || !needsEscape(byte(v)) {
				return "", fmt.Errorf("%w: escape %q in a queue row", ErrProtocol, s[i:i+4])
			}
			b = append(b, byte(v))
		default:
			return "", fmt.Errorf("%w: escape %q in a queue row", ErrProtocol, s[i:i+2])
		}
		s = s[i+n:]
	}
	return string(append(b, s...)), nil
}
