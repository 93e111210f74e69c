package job

import (
	"slices"
	"strings"
	"testing"
)

func TestParseDependency(t *testing.T) {
	tests := []struct {
		in   string
		want []Dependency
		err  string
	}{
		{"afterok:12", []Dependency{{AfterOK, 12}}, ""},
		{"afterany:13:14", []Dependency{{AfterAny, 13}, {AfterAny, 14}}, ""},
		{"afternotok:5", []Dependency{{AfterNotOK, 5}}, ""},
		{"after:5", []Dependency{{After, 5}}, ""},
		{"singleton", []Dependency{{Type: Singleton}}, ""},
		{"AfterOK:7, singleton", []Dependency{{AfterOK, 7}, {Type: Singleton}}, ""},
		{"afterok:12,afterany:13", []Dependency{{AfterOK, 12}, {AfterAny, 13}}, ""},
		{"", nil, "is not a dependency"},
		{"afterok", nil, "needs a job id"},
		{"afterok:", nil, "is not a job id"},
		{"afterok:0", nil, "is not a job id"},
		{"afterok:x", nil, "is not a job id"},
		{"afterok:-1", nil, "is not a job id"},
		{"afterok:99999999999999999999", nil, "is not a job id"},
		{"afterok:12+30", nil, "delays"},
		{"afterok:12_3", nil, "array task ids"},
		{"afterok:1?afterok:2", nil, "not supported"},
		{"singleton:4", nil, "no job id"},
		{"aftrok:13", nil, `unknown type "aftrok"`},
		{"afterok:1,", nil, "unknown type"},
	}
	for _, tt := range tests {
		got, err := ParseDependency(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseDependency(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseDependency(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		for _, d := range got {
			back, err := ParseDependency(d.String())
			if err != nil || len(back) != 1 || back[0] != d {
				t.Errorf("round trip of %v: %v, %v", d, back, err)
			}
		}
	}
}

func FuzzParseDependency(f *testing.F) {
	for _, s := range []string{"afterok:12", "afterany:13:14", "singleton", "afterok:1,after:2", "afterok:1?after:2", "afterok:12_3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		deps, err := ParseDependency(s)
		if err != nil {
			return
		}
		if len(deps) == 0 {
			t.Fatalf("ParseDependency(%q) accepted nothing", s)
		}
		for _, d := range deps {
			if err := checkDependency(d); err != nil {
				t.Fatalf("ParseDependency(%q) gave %v: %v", s, d, err)
			}
			back, err := ParseDependency(d.String())
			if err != nil || len(back) != 1 || back[0] != d {
				t.Fatalf("round trip of %v: %v, %v", d, back, err)
			}
		}
	})
}
