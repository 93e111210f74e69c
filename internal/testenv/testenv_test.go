package testenv

import (
	"os"
	"testing"
)

// fakeT records what a need did to the test.
type fakeT struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }

// A missing command fails the test outside -short, and never passes it.
func TestNeedCommandFailsWithoutTheCommand(t *testing.T) {
	f := &fakeT{TB: t}
	if p := NeedCommand(f, "bmc-no-such-command", "bmc-nothing"); p != "" {
		t.Errorf("found %q", p)
	}
	if testing.Short() != f.skipped || testing.Short() == f.failed {
		t.Errorf("short=%v: skipped=%v failed=%v; want a skip only with -short, a failure otherwise", testing.Short(), f.skipped, f.failed)
	}
	if p := NeedCommand(&fakeT{TB: t}, "sh", "dash"); p == "" {
		t.Error("sh not found")
	}
}

func TestNeedRoot(t *testing.T) {
	f := &fakeT{TB: t}
	NeedRoot(f, "test")
	root := os.Geteuid() == 0
	if root && (f.skipped || f.failed) || !root && !f.skipped && !f.failed {
		t.Errorf("root=%v: skipped=%v failed=%v", root, f.skipped, f.failed)
	}
}
