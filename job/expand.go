package job

import (
	"fmt"
	"strconv"
	"strings"
)

// ExpandPath fills a Slurm-style output file pattern for job j:
//
//	%j  job id            %A  array job id (the job id outside an array)
//	%a  array task id (empty outside an array)
//	%u  user name         %x  job name        %N  node name
//	%%  a literal %
//
// A digit between % and the letter zero-pads numbers to that width, as in
// Slurm ("%3a" → "007"). Anything else after % is kept as written; Validate
// refuses such patterns before a job is accepted.
func ExpandPath(pattern string, j *Job) string {
	if !strings.Contains(pattern, "%") {
		return pattern
	}
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '%' || i+1 == len(pattern) {
			b.WriteByte(c)
			continue
		}
		width, k := 0, i+1
		if d := pattern[k]; d >= '1' && d <= '9' && k+1 < len(pattern) {
			width, k = int(d-'0'), k+1
		}
		v, ok := expandOne(pattern[k], width, j)
		if !ok {
			b.WriteByte(c)
			continue
		}
		b.WriteString(v)
		i = k
	}
	return b.String()
}

func expandOne(verb byte, width int, j *Job) (string, bool) {
	num := func(n uint64) string {
		s := strconv.FormatUint(n, 10)
		if len(s) < width {
			s = strings.Repeat("0", width-len(s)) + s
		}
		return s
	}
	switch verb {
	case '%':
		return "%", width == 0
	case 'j':
		return num(j.ID), true
	case 'A':
		if j.IsArrayTask() && j.ArrayJobID != 0 {
			return num(j.ArrayJobID), true
		}
		return num(j.ID), true
	case 'a':
		if !j.IsArrayTask() {
			return "", true
		}
		return num(uint64(j.ArrayTaskID)), true
	case 'u':
		return j.User, width == 0
	case 'x':
		return j.Spec.Name, width == 0
	case 'N':
		return j.Node, width == 0
	}
	return "", false
}

// checkPattern reports the first % escape ExpandPath does not know.
func checkPattern(p string) error {
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		if i+1 == len(p) {
			return fmt.Errorf("%q ends with a lone %%; write %%%% for a literal %%", p)
		}
		k := i + 1
		if d := p[k]; d >= '1' && d <= '9' && k+1 < len(p) && strings.IndexByte("jAa", p[k+1]) >= 0 {
			k++
		}
		if strings.IndexByte("jAauxN%", p[k]) < 0 {
			return fmt.Errorf("%q: %%%c is not a known pattern (use %%j %%A %%a %%u %%x %%N or %%%%)", p, p[k])
		}
		i = k
	}
	return nil
}
