package job

import (
	"slices"
	"strings"
	"testing"
)

func TestParseArray(t *testing.T) {
	tests := []struct {
		in    string
		tasks []int
		max   int
		err   string
	}{
		{"1-5", []int{1, 2, 3, 4, 5}, 0, ""},
		{"1-100%10", nil, 10, ""},
		{"1,3,5-7", []int{1, 3, 5, 6, 7}, 0, ""},
		{"0-15:4", []int{0, 4, 8, 12}, 0, ""},
		{"0-15:4%1", []int{0, 4, 8, 12}, 1, ""},
		{"7,3,3,1-2", []int{1, 2, 3, 7}, 0, ""},
		{"4000000", []int{4000000}, 0, ""},
		{"1-100000", nil, 0, ""},
		{"0-100000", nil, 0, "more than 100000 tasks"},
		{"1-60000,1-60000", nil, 0, "more than 100000 tasks"},
		{"4000001", nil, 0, "above 4000000"},
		{"", nil, 0, "is not an array specification"},
		{"%5", nil, 0, "is not an array specification"},
		{"1-5%0", nil, 0, "positive integer"},
		{"1-5%-1", nil, 0, "positive integer"},
		{"1-5%x", nil, 0, "positive integer"},
		{"5-1", nil, 0, "runs backwards"},
		{"1-10:0", nil, 0, "step"},
		{"3:2", nil, 0, "a step needs a range"},
		{"1,,2", nil, 0, "is not a task id"},
		{"-1", nil, 0, "is not a task id"},
		{"1-x", nil, 0, "is not a task id"},
		{"1 - 3", nil, 0, "is not a task id"},
	}
	for _, tt := range tests {
		a, err := ParseArray(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseArray(%q) = %v, %v; want error containing %q", tt.in, a, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseArray(%q): %v", tt.in, err)
			continue
		}
		if tt.tasks != nil && !slices.Equal(a.Tasks, tt.tasks) {
			t.Errorf("ParseArray(%q).Tasks = %v, want %v", tt.in, a.Tasks, tt.tasks)
		}
		if a.MaxParallel != tt.max || a.Text != strings.TrimSpace(tt.in) {
			t.Errorf("ParseArray(%q) = max %d text %q", tt.in, a.MaxParallel, a.Text)
		}
		if err := checkArray(&a); err != nil {
			t.Errorf("checkArray(ParseArray(%q)): %v", tt.in, err)
		}
	}
	if a, _ := ParseArray("1-100%10"); len(a.Tasks) != 100 || a.Tasks[0] != 1 || a.Tasks[99] != 100 {
		t.Errorf("1-100: %d tasks", len(a.Tasks))
	}
}

func FuzzParseArray(f *testing.F) {
	for _, s := range []string{"1-100%10", "1,3,5-7", "0-15:4", "5", "1-5%0", "0-4000000:1000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseArray(s)
		if err != nil {
			return
		}
		if err := checkArray(&a); err != nil {
			t.Fatalf("ParseArray(%q) gave an invalid spec: %v", s, err)
		}
		// Text is what the user wrote, so re-parsing it gives the same tasks.
		b, err := ParseArray(a.Text)
		if err != nil || !slices.Equal(a.Tasks, b.Tasks) || a.MaxParallel != b.MaxParallel {
			t.Fatalf("re-parse of %q: %v, %v", a.Text, b, err)
		}
	})
}
