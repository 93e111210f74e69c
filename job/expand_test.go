package job

import "testing"

func TestExpandPath(t *testing.T) {
	single := &Job{ID: 42, ArrayTaskID: -1, User: "alice", Node: "vnode1", Spec: &Spec{Name: "hello"}}
	task := &Job{ID: 107, ArrayJobID: 100, ArrayTaskID: 7, User: "bob", Node: "vnode2", Spec: &Spec{Name: "sweep"}}
	tests := []struct {
		pattern string
		j       *Job
		want    string
	}{
		{"bmc-%j.out", single, "bmc-42.out"},
		{"bmc-%A_%a.out", task, "bmc-100_7.out"},
		{"bmc-%A_%a.out", single, "bmc-42_.out"},
		{"%j", task, "107"},
		{"%x-%u-%N.log", single, "hello-alice-vnode1.log"},
		{"100%%-%j", single, "100%-42"},
		{"%3a-%5j", task, "007-00107"},
		{"%3x", single, "%3x"}, // width only for numbers: kept as written
		{"%q%", single, "%q%"},
		{"plain", single, "plain"},
		{"%", single, "%"},
		{"%%%j%%", single, "%42%"},
	}
	for _, tt := range tests {
		if got := ExpandPath(tt.pattern, tt.j); got != tt.want {
			t.Errorf("ExpandPath(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

func TestCheckPattern(t *testing.T) {
	for _, ok := range []string{"bmc-%j.out", "%A_%a", "%3a", "100%%", "%x/%u/%N", "plain"} {
		if err := checkPattern(ok); err != nil {
			t.Errorf("checkPattern(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"%q", "%", "a%", "%3x", "%0j", "%%%"} {
		if err := checkPattern(bad); err == nil {
			t.Errorf("checkPattern(%q) accepted", bad)
		}
	}
}
