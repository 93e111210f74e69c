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
	"github.com/bmc-sched/bmc/boot/image"
	"github.com/bmc-sched/bmc/internal/testenv"
	"github.com/bmc-sched/bmc/internal/userfs"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
)

// realLike is a simulated machine that says it is real, so the submit-time
// image checks (which only matter for machines that boot images) run.
type realLike struct{ machine.Machine }

func (realLike) Simulated() bool { return false }

// fakeImages offers x86_64 for every image but "missing" ones, and
// allows no URLs.
type fakeImages struct{}

func (fakeImages) CheckImage(ctx context.Context, ref string, owner userfs.Identity, archs []string) (image.Checked, error) {
	if strings.Contains(ref, "missing") {
		return image.Checked{}, errors.New("image " + ref + ": not found")
	}
	return image.Checked{Ref: ref, Digest: "sha256:" + strings.Repeat("ab", 32), Archs: []string{"x86_64"}}, nil
}

func (fakeImages) CheckSources(kernel, initrd string) error {
	if strings.HasPrefix(kernel, "http") {
		return errors.New("kernel: host not allowed")
	}
	return nil
}

func TestSubmitChecksTheImage(t *testing.T) {
	h := newHarness(t, 2, func(h *harness) {
		h.wrap = func(name string, m machine.Machine) machine.Machine { return realLike{m} }
		h.cfg.Images = fakeImages{}
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
	// The digest is the controller's, never the client's.
	forged := spec
	forged.ImageDigest = "sha256:" + strings.Repeat("66", 32)
	resp, err = submit(alice, forged, h.dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.job(resp.IDs[0]).Spec.ImageDigest; got != "sha256:"+strings.Repeat("ab", 32) {
		t.Errorf("client's digest kept: %q", got)
	}
	url := spec
	url.Kernel = "http://127.0.0.1:9151/metrics"
	if _, err := submit(alice, url, h.dir); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "host not allowed") {
		t.Errorf("URL kernel: %v", err)
	}

}

// On simulated machines nothing reads the image, but an image the
// submitter cannot read is still refused.
func TestSubmitRefusesUnreadableImage(t *testing.T) {
	testenv.NeedRoot(t, "read as another user")
	h := newHarness(t, 1)
	secret := filepath.Join(h.dir, "root-only.tar")
	os.WriteFile(secret, []byte("x"), 0o600)
	s := simSpec(time.Second, 0)
	s.Image = secret
	_, err := h.c.Submit(context.Background(), alice, api.SubmitRequest{Spec: s, Cwd: h.dir})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("an image its owner cannot read: %v", err)
	}
}

func TestSubmitterChecks(t *testing.T) {
	h := newHarness(t, 1, func(h *harness) { h.cfg.ImageRootUsers = []string{"bob"} })
	bob := Identity{UID: 1001, GID: 1001, User: "bob"}
	admin := Identity{UID: 1002, GID: 1002, User: "carol", Admin: true}
	tests := []struct {
		name  string
		who   Identity
		runAs string
		cwd   string
		want  string
	}{
		{"root for a user", alice, "root", "/home/alice", `user: "root" is for admins and the users bmcctld --image-root-users lists`},
		{"uid 0 for a user", alice, "0", "/home/alice", `user: "0" is for admins`},
		{"root for a listed user", bob, "root", "/home/bob", ""},
		{"root for an admin", admin, "root", "/", ""},
		{"another user", alice, "nobody", "/home/alice", ""},
		{"uid 1000", alice, "1000", "/home/alice", ""},
		{"cwd with escape", alice, "", "/home/alice\x1b[2J", `cwd: "/home/alice\x1b[2J" must not contain control characters`},
		{"cwd with newline", alice, "", "/home/alice\nJobId=999 User=root", `cwd: "/home/alice\nJobId=999 User=root" must not contain control characters`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := simSpec(time.Second, 0)
			s.RunAs = tt.runAs
			_, err := h.c.Submit(context.Background(), tt.who, api.SubmitRequest{Spec: s, Cwd: tt.cwd})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
