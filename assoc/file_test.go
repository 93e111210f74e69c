package assoc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bmc-sched/bmc/internal/tomlpos"
)

func TestParseFileGood(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "good.toml"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ParseFile("good.toml", data)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := tr.Account("physics"); a.Parent != "science" || a.Shares != 2 || a.Limit.EnergyKWh != 500 || a.Coordinators[0] != "ann" || a.Jobs != (JobLimits{MaxSubmitJobs: 2000, MaxJobs: 4}) {
		t.Errorf("physics: %+v", a)
	}
	if u, _ := tr.User("ann"); u.DefaultAccount != "physics" || len(u.Accounts) != 2 || u.Limit.Period != "none" {
		t.Errorf("ann: %+v", u)
	}
	if u, _ := tr.User("bob"); u.DefaultAccount != "chemistry" {
		t.Errorf("bob's default is his first account: %+v", u)
	}
}

// Each bad file in testdata/bad gives the one-line error in its .err file.
func TestParseFileBad(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.toml"))
	if len(files) == 0 {
		t.Fatal("no bad files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, _ := os.ReadFile(f)
			want, _ := os.ReadFile(strings.TrimSuffix(f, ".toml") + ".err")
			_, err := ParseFile(filepath.Base(f), data)
			var e *tomlpos.Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if got := err.Error(); got != strings.TrimSpace(string(want)) {
				t.Errorf("got  %s\nwant %s", got, strings.TrimSpace(string(want)))
			}
		})
	}
}

func FuzzParseFile(f *testing.F) {
	for _, p := range append([]string{filepath.Join("testdata", "good.toml")}, must(filepath.Glob(filepath.Join("testdata", "bad", "*.toml")))...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := ParseFile("f.toml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			if strings.Contains(err.Error(), "\n") && !strings.HasPrefix(err.Error(), "f.toml") {
				t.Fatalf("multi-line error without positions: %q", err)
			}
			return
		}
		// What parses is a tree NewTree accepts again, and every user resolves.
		again, err := NewTree(tr.Accounts(), tr.Users())
		if err != nil {
			t.Fatalf("a parsed tree is refused: %v", err)
		}
		for _, u := range again.Users() {
			if a, err := again.Resolve(u.Name, "", false); err != nil || a != u.DefaultAccount {
				t.Fatalf("user %s resolves to %q %v", u.Name, a, err)
			}
		}
		FairShare(again, nil)
	})
}

func must(s []string, err error) []string {
	if err != nil {
		panic(err)
	}
	return s
}
