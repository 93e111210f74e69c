package bmcsubmit

import (
	"os/exec"
	"strings"
	"testing"
)

// bmcsubmit starts once per job: what it links is paid at every submit
// (package inits and page faults). Parsing job files and image references
// is the daemon's work, and HTTP is not needed to submit.
func TestLeanImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/bmc-sched/bmc/cmd/bmcsubmit").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	// A prefix ending in "/" forbids the packages under it too.
	forbidden := []string{"net/http", "crypto/tls", "github.com/bmc-sched/bmc/job", "github.com/bmc-sched/bmc/api",
		"github.com/google/go-containerregistry/", "github.com/opencontainers/go-digest", "github.com/pelletier/go-toml/",
		"github.com/robfig/cron/", "github.com/spf13/cobra", "text/template", "encoding/json"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if pkg == f || pkg == strings.TrimSuffix(f, "/") || strings.HasSuffix(f, "/") && strings.HasPrefix(pkg, f) {
				t.Errorf("bmcsubmit links %s", pkg)
			}
		}
	}
}
