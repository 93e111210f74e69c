package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// A command may hold newlines (multi-line scripts are legitimate), but bmcq
// show prints it on one line: a job cannot forge a line of another job's
// details, or act on the terminal of whoever looks at it.
func TestShowCannotForgeALine(t *testing.T) {
	dir := workDir(t)
	d := startDaemon(t, t.TempDir(), "--sim", "1")
	write(t, filepath.Join(dir, "j.toml"), "image = \"busybox\"\nhold = true\ncommand = \"\"\"true\nJobId=999 User=root\n\ttab\"\"\"\n")
	r := d.run(1000, dir, "bmcsubmit", "--parsable", "j.toml")
	if r.code != 0 {
		t.Fatalf("bmcsubmit: %s", r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	r = d.run(0, dir, "bmcq", "show", id)
	if r.code != 0 {
		t.Fatalf("bmcq show: %s", r.stderr)
	}
	want := `   Command=true\nJobId=999 User=root\n\ttab`
	var found bool
	for _, l := range strings.Split(r.stdout, "\n") {
		found = found || l == want
		if strings.HasPrefix(l, "JobId=999") {
			t.Errorf("forged line %q in:\n%s", l, r.stdout)
		}
	}
	if !found || strings.ContainsAny(r.stdout, "\t\r\x1b") {
		t.Errorf("bmcq show does not print the command as %q on one line:\n%s", want, r.stdout)
	}
	r = d.run(0, dir, "bmcq", "show", "--json", id)
	if !strings.Contains(r.stdout, `"true\nJobId=999 User=root\n\ttab"`) {
		t.Errorf("--json does not keep the command exact:\n%s", r.stdout)
	}
}
