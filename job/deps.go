package job

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadDependency is wrapped by every ParseDependency error.
var ErrBadDependency = errors.New("is not a dependency")

// ParseDependency reads one Slurm --dependency value: "afterok:12",
// "afterany:13:14" (one Dependency per id), "afternotok:5", "after:5" or
// "singleton", several of them joined by "," (all must hold). Slurm's "?"
// (any may hold), "+time" delays and array-task ids ("12_3") are not
// supported and are refused rather than half-understood.
func ParseDependency(s string) ([]Dependency, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, fmt.Errorf("%q %w", s, ErrBadDependency)
	}
	if strings.Contains(t, "?") {
		return nil, fmt.Errorf("%q: \"?\" (any of) is not supported; list conditions that must all hold", s)
	}
	var deps []Dependency
	for part := range strings.SplitSeq(t, ",") {
		d, err := parseDepPart(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%q %w: %v", s, ErrBadDependency, err)
		}
		deps = append(deps, d...)
	}
	return deps, nil
}

func parseDepPart(part string) ([]Dependency, error) {
	fields := strings.Split(part, ":")
	typ := DepType(strings.ToLower(fields[0]))
	switch typ {
	case Singleton:
		if len(fields) > 1 {
			return nil, errors.New("singleton takes no job id")
		}
		return []Dependency{{Type: Singleton}}, nil
	case AfterOK, AfterAny, AfterNotOK, After:
	default:
		return nil, fmt.Errorf("unknown type %q (want afterok, afterany, afternotok, after or singleton)", fields[0])
	}
	if len(fields) < 2 {
		return nil, fmt.Errorf("%s needs a job id, as in %s:12", typ, typ)
	}
	deps := make([]Dependency, 0, len(fields)-1)
	for _, f := range fields[1:] {
		id, err := depJobID(f)
		if err != nil {
			return nil, err
		}
		deps = append(deps, Dependency{Type: typ, JobID: id})
	}
	return deps, nil
}

func depJobID(f string) (uint64, error) {
	switch {
	case strings.Contains(f, "+"):
		return 0, fmt.Errorf("delays (%q) are not supported", f)
	case strings.Contains(f, "_"):
		return 0, fmt.Errorf("array task ids (%q) are not supported; depend on the whole array", f)
	case f == "" || strings.TrimLeft(f, "0123456789") != "":
		return 0, fmt.Errorf("%q is not a job id", f)
	}
	id, err := strconv.ParseUint(f, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%q is not a job id", f)
	}
	return id, nil
}

// String prints d back in the form ParseDependency reads.
func (d Dependency) String() string {
	if d.Type == Singleton {
		return string(Singleton)
	}
	return string(d.Type) + ":" + strconv.FormatUint(d.JobID, 10)
}
