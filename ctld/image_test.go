package ctld

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// realLike is a simulated machine that says it is real, so the submit-time
// image checks (which only matter for machines that boot images) run.
type realLike struct{ Machine }

func (realLike) Simulated() bool { return false }

func TestSubmitChecksTheImage(t *testing.T) {
	h := newHarness(t, 2, func(h *harness) {
		h.wrap = func(name string, m Machine) Machine { return realLike{m} }
		h.cfg.ImagePlatforms = func(ctx context.Context, ref string) ([]string, error) {
			if strings.Contains(ref, "missing") {
				return nil, errors.New("image " + ref + ": not found")
			}
			return []string{"x86_64"}, nil
		}
	})
	submit := func(who Identity, s job.Spec, cwd string) (api.SubmitResponse, error) {
		return h.c.Submit(context.Background(), who, api.SubmitRequest{Spec: s, Cwd: cwd})
	}
	spec := simSpec(time.Second, 0)

	arm := spec
	arm.Arch = "aarch64"
	_, err := submit(alice, arm, h.dir)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no variant for aarch64 (it offers x86_64)") {
		t.Errorf("aarch64 job with an amd64-only image: %v", err)
	}

	missing := spec
	missing.Image = "registry.example/missing:1"
	if _, err := submit(alice, missing, h.dir); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown image: %v", err)
	}

	// A relative tarball resolves against the submitter's directory.
	if err := os.WriteFile(filepath.Join(h.dir, "app.tar"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	rel := spec
	rel.Image = "app.tar"
	resp, err := submit(alice, rel, h.dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.job(resp.IDs[0]).Spec.Image; got != filepath.Join(h.dir, "app.tar") {
		t.Errorf("relative image stored as %q", got)
	}

	if os.Geteuid() == 0 {
		secret := filepath.Join(h.dir, "root-only.tar")
		os.WriteFile(secret, []byte("x"), 0o600)
		s := spec
		s.Image = secret
		if _, err := submit(alice, s, h.dir); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("an image its owner cannot read: %v", err)
		}
	}
}
