package layers

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/bmc-sched/bmc/"

// above are packages that sit on top of others, each with the only
// directories allowed to import it (a prefix ending in / takes a subtree).
var above = map[string][]string{
	"ctld":              {"apiserver", "cmd/", "e2e", "bench/", "scripts/"},
	"apiserver":         {"cmd/", "e2e", "bench/", "scripts/"},
	"machine/realnode":  {"cmd/", "e2e", "bench/", "scripts/"},
	"machine/simnode":   {"cmd/", "e2e", "bench/", "scripts/"},
	"cli":               {"cli/", "cmd/", "e2e", "bench/", "scripts/"},
	"cli/bmcq":          {"cmd/", "e2e", "bench/", "scripts/"},
	"cli/bmcsubmit":     {"cmd/", "e2e", "bench/", "scripts/"},
	"go.etcd.io/bbolt":  {"store"},
	"bench/proc":        {"bench/"},
	"scripts/vlabtest":  {"e2e", "scripts/", "cmd/"},
	"power/ipmitest":    {"power/", "e2e", "scripts/", "cmd/"},
	"power/redfishtest": {"power/", "e2e", "scripts/", "cmd/"},
}

func allowed(dir string, who []string) bool {
	for _, w := range who {
		if dir == w || (strings.HasSuffix(w, "/") && strings.HasPrefix(dir+"/", w)) {
			return true
		}
	}
	return false
}

// TestImportsRunDownward reads the imports of every non-test file: a package
// never imports one above it, internal/* imports nothing of bmc, and only
// store imports bbolt.
func TestImportsRunDownward(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || (strings.HasPrefix(n, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		dir = filepath.ToSlash(dir)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			own := strings.TrimPrefix(p, module)
			if strings.HasPrefix(dir, "internal/") && own != p && !strings.HasPrefix(own, "internal/") {
				t.Errorf("%s imports %s: internal/* imports nothing of bmc", dir, p)
			}
			key := own
			if strings.HasPrefix(p, "go.etcd.io/bbolt") {
				key = "go.etcd.io/bbolt"
			}
			if who, ok := above[key]; ok && key != dir && !allowed(dir, who) {
				t.Errorf("%s imports %s, which sits above it (only %v may)", dir, p, who)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read %d files: not the module", files)
	}
}
