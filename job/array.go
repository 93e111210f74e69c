package job

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Array limits. MaxArrayTasks caps how many tasks one submission creates;
// MaxArrayTaskID keeps ids within what %a prints sensibly and what Slurm
// itself allows (its MaxArraySize tops out near four million).
const (
	MaxArrayTasks  = 100000
	MaxArrayTaskID = 4000000
)

// ErrBadArray is wrapped by every ParseArray error.
var ErrBadArray = errors.New("is not an array specification")

// ParseArray reads a Slurm --array value: comma-separated ids and ranges
// ("1,3,5-7"), a range with a step ("0-15:4"), and an optional "%N" limit on
// how many tasks run at once ("1-100%10"). Tasks come back sorted and unique.
//
// Overlapping ranges count once per range against MaxArrayTasks; this keeps
// the work bounded for any input and only refuses specs that are mistakes.
func ParseArray(s string) (ArraySpec, error) {
	text := strings.TrimSpace(s)
	body, limit, hasLimit := strings.Cut(text, "%")
	a := ArraySpec{Text: text}
	if hasLimit {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || strings.ContainsAny(limit, "+-") {
			return ArraySpec{}, fmt.Errorf("%q: the %%N task limit must be a positive integer", s)
		}
		a.MaxParallel = n
	}
	if body == "" {
		return ArraySpec{}, fmt.Errorf("%q %w", s, ErrBadArray)
	}
	total := 0
	var tasks []int
	for part := range strings.SplitSeq(body, ",") {
		lo, hi, step, err := arrayRange(part)
		if err != nil {
			return ArraySpec{}, fmt.Errorf("%q %w: %v", s, ErrBadArray, err)
		}
		n := (hi-lo)/step + 1
		if total += n; total > MaxArrayTasks {
			return ArraySpec{}, fmt.Errorf("%q has more than %d tasks", s, MaxArrayTasks)
		}
		for id := lo; id <= hi; id += step {
			tasks = append(tasks, id)
		}
	}
	slices.Sort(tasks)
	a.Tasks = slices.Compact(tasks)
	return a, nil
}

// arrayRange reads "N", "N-M" or "N-M:S".
func arrayRange(part string) (lo, hi, step int, err error) {
	rng, st, hasStep := strings.Cut(part, ":")
	step = 1
	if hasStep {
		if step, err = arrayInt(st); err != nil || step < 1 {
			return 0, 0, 0, fmt.Errorf("step %q must be a positive integer", st)
		}
	}
	a, b, isRange := strings.Cut(rng, "-")
	if lo, err = arrayInt(a); err != nil {
		return 0, 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = arrayInt(b); err != nil {
			return 0, 0, 0, err
		}
	} else if hasStep {
		return 0, 0, 0, fmt.Errorf("a step needs a range, as in 0-15:4")
	}
	if hi < lo {
		return 0, 0, 0, fmt.Errorf("range %q runs backwards", rng)
	}
	return lo, hi, step, nil
}

// arrayInt reads a task id: digits only, at most MaxArrayTaskID.
func arrayInt(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a task id", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > MaxArrayTaskID {
		return 0, fmt.Errorf("task id %q is above %d", s, MaxArrayTaskID)
	}
	return n, nil
}
