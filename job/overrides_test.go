package job

import (
	"strings"
	"testing"
	"time"
)

func TestOverridesApply(t *testing.T) {
	base := func() *Spec {
		s, err := Parse("ok.toml", []byte("image = \"busybox\"\ncommand = \"true\"\n"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		o     Overrides
		check func(*Spec) bool
		err   string // substring; "" for success
	}{
		{"nothing", Overrides{}, func(s *Spec) bool { return s.Name == "ok" && s.Output == DefaultOutput && s.Array == nil }, ""},
		{"array sets per-task output", Overrides{Array: "1-4%2"},
			func(s *Spec) bool { return s.Array != nil && len(s.Array.Tasks) == 4 && s.Output == DefaultArrayOutput }, ""},
		{"array keeps an explicit output", Overrides{Array: "1-2", Output: "out-%j"},
			func(s *Spec) bool { return s.Output == "out-%j" }, ""},
		{"dependencies replace the file's", Overrides{Dependency: "afterok:12,afterany:13"},
			func(s *Spec) bool {
				return len(s.DependsOn) == 2 && s.DependsOn[0].JobID == 12 && s.DependsOn[1].JobID == 13
			}, ""},
		{"hold, time, account, name, partition", Overrides{Hold: true, Time: "5", Account: "phys", Name: "renamed", Partition: "big"},
			func(s *Spec) bool {
				return s.Hold && time.Duration(s.TimeLimit) == 5*time.Minute && s.Account == "phys" && s.Name == "renamed" && s.Partition == "big"
			}, ""},
		{"bad array", Overrides{Array: "4-1"}, nil, "--array: "},
		{"bad dependency", Overrides{Dependency: "after:x"}, nil, "--dependency: "},
		{"bad time", Overrides{Time: "2x"}, nil, "--time: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			err := tc.o.Apply(s)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Errorf("err = %v, want it to start with %q", err, tc.err)
				}
				return
			}
			if err != nil || !tc.check(s) {
				t.Errorf("err %v, spec %+v", err, s)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("overridden spec does not validate: %v", err)
			}
		})
	}
}

// Flags come from the command line as typed: no value may crash the
// daemon, and what Apply accepts it leaves in a spec Validate can judge.
func FuzzOverridesApply(f *testing.F) {
	f.Add("1-4%2", "afterok:12,afterany:13", "5", "phys", "name", "out-%j", "big", true)
	f.Add("", "", "2x", "", "", "", "", false)
	f.Add("0-99999999", "singleton", "-1", "a/b", "\x00", "%a", "", true)
	f.Fuzz(func(t *testing.T, array, dep, tm, account, name, output, partition string, hold bool) {
		s, err := Parse("f.toml", []byte("image = \"busybox\"\ncommand = \"true\"\n"))
		if err != nil {
			t.Fatal(err)
		}
		o := Overrides{Array: array, Dependency: dep, Hold: hold, Time: tm, Account: account, Name: name, Output: output, Partition: partition}
		if err := o.Apply(s); err != nil {
			if !strings.HasPrefix(err.Error(), "--") {
				t.Fatalf("error %q does not name its flag", err)
			}
			return
		}
		_ = s.Validate()
	})
}
