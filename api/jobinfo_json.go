package api

import (
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends j as encoding/json would marshal it, byte for byte
// (field order, omitempty/omitzero, HTML-safe escaping, float format), without
// reflection: `bmcq --json` over 10,000 jobs spent most of its time in the
// daemon's reflective encoder. JobInfo deliberately has no MarshalJSON: it
// would be promoted to JobDetail, which embeds it, and hide the detail.
// TestAppendJSONMatchesEncodingJSON and FuzzAppendJSON hold the two equal,
// and TestAppendJSONKnowsEveryField fails when a field is added.
func (j *JobInfo) AppendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, j.ID, 10)
	b = append(b, `,"job_id":`...)
	b = appendString(b, j.JobID)
	if j.ArrayJobID != 0 {
		b = append(b, `,"array_job_id":`...)
		b = strconv.AppendUint(b, j.ArrayJobID, 10)
	}
	if j.ArrayTaskID != nil {
		b = append(b, `,"array_task_id":`...)
		b = strconv.AppendInt(b, int64(*j.ArrayTaskID), 10)
	}
	b = append(b, `,"name":`...)
	b = appendString(b, j.Name)
	b = append(b, `,"user":`...)
	b = appendString(b, j.User)
	if j.Account != "" {
		b = append(b, `,"account":`...)
		b = appendString(b, j.Account)
	}
	b = append(b, `,"partition":`...)
	b = appendString(b, j.Partition)
	b = append(b, `,"state":`...)
	b = appendString(b, string(j.State))
	b = append(b, `,"reason":`...)
	b = appendString(b, j.Reason)
	if j.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendString(b, j.Detail)
	}
	if j.Node != "" {
		b = append(b, `,"node":`...)
		b = appendString(b, j.Node)
	}
	b = append(b, `,"exit_code":`...)
	b = strconv.AppendInt(b, int64(j.ExitCode), 10)
	if j.Priority != 0 {
		b = append(b, `,"priority":`...)
		if b, err = appendFloat(b, j.Priority); err != nil {
			return b, err
		}
	}
	b = append(b, `,"time_limit_seconds":`...)
	if b, err = appendFloat(b, j.TimeLimit); err != nil {
		return b, err
	}
	b = append(b, `,"elapsed_seconds":`...)
	if b, err = appendFloat(b, j.Elapsed); err != nil {
		return b, err
	}
	b = append(b, `,"submit_time":`...)
	if b, err = appendTime(b, j.SubmitTime); err != nil {
		return b, err
	}
	for _, f := range []struct {
		key string
		t   time.Time
	}{{`,"start_time":`, j.StartTime}, {`,"run_time":`, j.RunTime}, {`,"end_time":`, j.EndTime}} {
		if f.t.IsZero() {
			continue
		}
		b = append(b, f.key...)
		if b, err = appendTime(b, f.t); err != nil {
			return b, err
		}
	}
	if j.Simulated {
		b = append(b, `,"simulated":true`...)
	}
	return append(b, '}'), nil
}

var errFloat = errors.New("json: unsupported value: NaN or ±Inf")

// appendFloat is encoding/json's float64 format (ES6 number to string).
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, errFloat
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	// time.Time.MarshalJSON allocates; its output is RFC 3339 with
	// nanoseconds, refused only for years outside 0..9999 or zone offsets of
	// a day or more, which take the slow path to get the same error.
	if y := t.Year(); y >= 0 && y <= 9999 {
		if _, off := t.Zone(); off > -24*3600 && off < 24*3600 {
			b = append(b, '"')
			b = t.AppendFormat(b, time.RFC3339Nano)
			return append(b, '"'), nil
		}
	}
	v, err := t.MarshalJSON()
	if err != nil {
		return b, err
	}
	return append(b, v...), nil
}

const hexDigits = "0123456789abcdef"

// appendString is encoding/json's string encoding with HTML escaping on:
// control characters, quotes, backslash, <, > and & escaped, invalid UTF-8
// replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
