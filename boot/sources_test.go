package boot

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/internal/netallow"
	"github.com/bmc-sched/bmc/internal/testenv"
	"github.com/bmc-sched/bmc/internal/userfs"
)

func mustAllow(t *testing.T, hosts ...string) netallow.List {
	t.Helper()
	l, err := netallow.Parse("--fetch-allow", hosts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A job names the controller's own metrics (or any service only the
// controller host reaches) as its kernel: refused at submit and at boot,
// and nothing is sent there.
func TestJobURLsOnlyFromAllowedHosts(t *testing.T) {
	e := newEnv(t)
	secret := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the controller fetched %s for a job", r.URL)
		w.Write([]byte("bmc_secret 1\n"))
	}))
	defer secret.Close()
	secretHost := strings.TrimPrefix(secret.URL, "http://")
	allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-secret":
			http.Redirect(w, r, secret.URL+"/metrics", http.StatusFound)
		case "/slow":
			<-r.Context().Done()
		default:
			w.Write([]byte("kernel"))
		}
	}))
	defer allowed.Close()
	allowedHost := strings.TrimPrefix(allowed.URL, "http://")

	tests := []struct {
		name   string
		allow  []string
		kernel string
		want   string
	}{
		{"no list", nil, secret.URL + "/metrics", "host not allowed: " + secretHost + ": bmcctld fetches from no host (an admin lists hosts with --fetch-allow)"},
		{"not on the list", []string{allowedHost}, secret.URL + "/metrics", "host not allowed: " + secretHost + " is not in --fetch-allow (" + allowedHost + ")"},
		{"redirect off the list", []string{allowedHost}, allowed.URL + "/to-secret", "is not in --fetch-allow"},
		{"credentials in the URL", []string{allowedHost}, "http://u:p@" + allowedHost + "/k", "URLs with credentials are refused"},
		{"too slow", []string{allowedHost}, allowed.URL + "/slow", "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.srv.cfg.Sources.FetchAllow = mustAllow(t, tt.allow...)
			e.srv.cfg.Sources.FetchTimeout = 200 * time.Millisecond
			r := e.req(70, 1, "node1", "52:54:00:12:34:56")
			r.Kernel = tt.kernel
			_, err := e.srv.Prepare(context.Background(), r)
			if !errors.Is(err, ErrDownload) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Prepare: %v, want %q", err, tt.want)
			}
			t.Logf("job fails with: %v", err)
			if strings.Contains(tt.name, "list") && !strings.Contains(tt.name, "redirect") {
				err := e.srv.CheckSources(tt.kernel, "")
				if !errors.Is(err, netallow.ErrNotAllowed) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("CheckSources: %v", err)
				}
				t.Logf("submit says: %v", err)
			}
		})
	}
	// On the list, it works; the admin's own URLs need no list.
	e.srv.cfg.Sources.FetchAllow = mustAllow(t, allowedHost)
	if err := e.srv.CheckSources(allowed.URL+"/k", ""); err != nil {
		t.Fatal(err)
	}
	r := e.req(71, 1, "node1", "52:54:00:12:34:56")
	r.Kernel = allowed.URL + "/k"
	if _, err := e.srv.Prepare(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// Files a job names in a kernel directory are read as the job's owner.
func TestJobFilesReadAsOwner(t *testing.T) {
	testenv.NeedRoot(t, "read as another user")
	e := newEnv(t)
	for _, d := range []string{e.dir, filepath.Dir(e.dir)} {
		os.Chmod(d, 0o755)
	}
	os.Chmod(e.kdir, 0o777)
	private := filepath.Join(e.kdir, "private-vmlinuz")
	write(t, private, []byte("root's kernel"))
	os.Chmod(private, 0o600)
	nobody := userfs.Identity{UID: 65534, GID: 65534}
	// A symlink, made by the user inside the kernel directory, to a file
	// only root reads, also inside: still read as the user.
	os.Symlink(private, filepath.Join(e.kdir, "mine"))
	tests := []struct {
		name, kernel string
		want         error
		msg          string
	}{
		{"root-only file", private, ErrUnknownKernel, "permission denied (bmcctld reads job files as the job's owner)"},
		{"symlink to it", filepath.Join(e.kdir, "mine"), ErrForbiddenPath, ""},
		{"symlink out of the directory", filepath.Join(e.kdir, "escape"), ErrForbiddenPath, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.req(80, 1, "node1", "52:54:00:12:34:56")
			r.Kernel, r.Owner = tt.kernel, nobody
			_, err := e.srv.Prepare(context.Background(), r)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v %q", err, tt.want, tt.msg)
			}
			t.Logf("job fails with: %v", err)
		})
	}
	// The owner reads it, and the node gets the cached copy.
	r := e.req(81, 1, "node1", "52:54:00:12:34:56")
	r.Kernel = private
	b, err := e.srv.Prepare(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if _, body := e.get("/a/" + b.KernelToken + "/vmlinuz"); string(body) != "root's kernel" {
		t.Fatalf("served %q", body)
	}
}
