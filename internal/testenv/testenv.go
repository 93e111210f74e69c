// Package testenv owns what tests ask of the machine they run on: root, and
// the commands scripts/install-deps installs. make test (as CI runs it) runs
// as root after install-deps, so there a missing need fails the test
// instead of skipping it; a skip in CI would prove nothing. Only go test
// -short (make test-quick, the edit-compile loop) skips such tests.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// NeedRoot fails t unless it runs as root; why says what root is for.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if testing.Short() {
		t.Skipf("needs root to %s; make test runs it", why)
		return
	}
	t.Fatalf("needs root to %s: run it as root, as make test does", why)
}

// NeedCommand returns the path of the command name, which the Debian
// package pkg installs, and fails t without it.
func NeedCommand(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if testing.Short() {
		t.Skipf("no %s (Debian %s); make test installs it", name, pkg)
		return ""
	}
	t.Fatalf("no %s: apt-get install -y %s (scripts/install-deps, which make test runs, does)", name, pkg)
	return ""
}
