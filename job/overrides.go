package job

import (
	"fmt"
	"strings"
)

// Overrides are bmcsubmit's flags that replace a job file's fields, as the
// user typed them; empty means not given. The daemon applies them after
// parsing the file, so a submit is checked in one place.
type Overrides struct {
	Array      string
	Dependency string
	Hold       bool
	Time       string
	Account    string
	Name       string
	Output     string
	Partition  string
}

// Apply sets each given field in s. Its errors name the flag.
func (o Overrides) Apply(s *Spec) error {
	if o.Array != "" {
		a, err := ParseArray(o.Array)
		if err != nil {
			return fmt.Errorf("--array: %w", err)
		}
		s.Array = &a
		// An array's tasks would all write one file.
		if !strings.Contains(s.Output, "%a") && (s.Output == "" || s.Output == DefaultOutput) {
			s.Output = DefaultArrayOutput
		}
	}
	if o.Dependency != "" {
		s.DependsOn = nil
		for _, part := range strings.Split(o.Dependency, ",") {
			d, err := ParseDependency(part)
			if err != nil {
				return fmt.Errorf("--dependency: %w", err)
			}
			s.DependsOn = append(s.DependsOn, d...)
		}
	}
	if o.Hold {
		s.Hold = true
	}
	if o.Time != "" {
		d, err := ParseDuration(o.Time)
		if err != nil {
			return fmt.Errorf("--time: %w", err)
		}
		s.TimeLimit = Duration(d)
	}
	if o.Account != "" {
		s.Account = o.Account
	}
	if o.Name != "" {
		s.Name = o.Name
	}
	if o.Output != "" {
		s.Output = o.Output
	}
	if o.Partition != "" {
		s.Partition = o.Partition
	}
	return nil
}
