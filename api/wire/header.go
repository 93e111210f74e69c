package wire

import (
	"bufio"
	"fmt"
	"strconv"
)

// A header is a message's fields: one "key\tvalue\n" line each, values
// escaped as queue row fields are (AppendRow), and an empty line at the
// end. Zero values are left out, so a reader takes a missing key as zero;
// a list repeats its key once per element. It is decoded by a switch on
// the key, not by reflection: bmcsubmit pays for every package it starts.
type header []byte

func (h header) str(k, v string) header {
	if v == "" {
		return h
	}
	return h.always(k, v)
}

// always writes the field even when it is empty, for lists and for keys
// whose presence says something.
func (h header) always(k, v string) header {
	h = append(h, k...)
	h = append(h, '\t')
	h = appendField(h, v)
	return append(h, '\n')
}

func (h header) int(k string, v int) header {
	if v == 0 {
		return h
	}
	h = append(append(h, k...), '\t')
	return append(strconv.AppendInt(h, int64(v), 10), '\n')
}

func (h header) uint(k string, v uint64) header {
	if v == 0 {
		return h
	}
	return h.listUint(k, v)
}

func (h header) listUint(k string, v uint64) header {
	h = append(append(h, k...), '\t')
	return append(strconv.AppendUint(h, v, 10), '\n')
}

func (h header) flag(k string, v bool) header {
	if !v {
		return h
	}
	return append(append(h, k...), "\t1\n"...)
}

func (h header) end() header { return append(h, '\n') }

// field is one decoded header line.
type field struct{ key, val string }

// readHeader reads fields up to the empty line, at most MaxLine bytes in all.
func readHeader(r *bufio.Reader) ([]field, error) {
	var fields []field
	size := 0
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		if size += len(line) + 1; size > MaxLine {
			return nil, fmt.Errorf("%w: a header longer than %d bytes", ErrProtocol, MaxLine)
		}
		if len(line) == 0 {
			return fields, nil
		}
		k, v, ok := cutTab(string(line))
		if !ok || !validKey(k) {
			return nil, fmt.Errorf("%w: header line %q is not key<TAB>value", ErrProtocol, line)
		}
		if v, err = unescape(v); err != nil {
			return nil, err
		}
		fields = append(fields, field{k, v})
	}
}

func cutTab(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\t' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// decoder sets typed values from fields, remembering the first error and
// refusing a key given twice (lists excepted) or a zero the writer would
// have left out.
type decoder struct {
	seen map[string]bool
	err  error
}

func (d *decoder) fail(f field, why string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s %q: %s", ErrProtocol, f.key, f.val, why)
	}
}

func (d *decoder) once(f field) bool {
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	if d.seen[f.key] {
		d.fail(f, "given twice")
		return false
	}
	d.seen[f.key] = true
	return true
}

func (d *decoder) str(f field, dst *string) {
	if d.once(f) {
		*dst = f.val
	}
}

func (d *decoder) int(f field, dst *int) {
	if !d.once(f) {
		return
	}
	v, err := strconv.Atoi(f.val)
	if err != nil || v == 0 {
		d.fail(f, "not a non-zero integer")
		return
	}
	*dst = v
}

func (d *decoder) uint(f field, dst *uint64) {
	if d.once(f) {
		d.listUint(f, dst)
		if *dst == 0 && d.err == nil {
			d.fail(f, "zero is written as no field")
		}
	}
}

func (d *decoder) listUint(f field, dst *uint64) {
	v, err := strconv.ParseUint(f.val, 10, 64)
	if err != nil {
		d.fail(f, "not an unsigned integer")
		return
	}
	*dst = v
}

func (d *decoder) flag(f field, dst *bool) {
	if !d.once(f) {
		return
	}
	if f.val != "1" {
		d.fail(f, `a flag is "1" or left out`)
		return
	}
	*dst = true
}
