package boot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/boot/cache"
	"github.com/bmc-sched/bmc/boot/image"
	"github.com/bmc-sched/bmc/internal/netallow"
	"github.com/bmc-sched/bmc/internal/userfs"
)

// Who may name what (docs/security.md, "Users and their files"):
//   - admins name kernel and initrd files anywhere and URLs anywhere (the
//     cluster default and the catalog); bmcctld reads them as itself;
//   - a job names a file only beneath a --kernel-dir, opened as the job's
//     owner relative to that directory (no "..", no symlink out of it, no
//     symlink as the file itself), copied into the cache by digest and
//     served from that copy;
//   - a job names a URL only on a host in --fetch-allow, every redirect
//     too, within the size and time limits;
//   - images: see package image.

// DefaultFetchTimeout bounds one job-named download.
const DefaultFetchTimeout = 2 * time.Minute

// SourcePolicy is what jobs may make bmcctld read or fetch for them.
type SourcePolicy struct {
	// FetchAllow lists the hosts job kernel/initrd URLs may name (and
	// redirect to). Empty: job URLs are refused.
	FetchAllow netallow.List
	// FetchTimeout bounds a job-named download; 0 = DefaultFetchTimeout.
	FetchTimeout time.Duration
	// RegistryAllow lists the registries images may be pulled from.
	RegistryAllow netallow.List
	// Image bounds the size of an image.
	Image image.Limits
	// Staging is where images are verified before they are flattened;
	// "" = a "staging" directory beside the cache directory.
	Staging string
}

// newResolver sets up image resolution: the staging directory (emptied of
// what a crash left) and the resolver.
func (s *Server) newResolver() (*image.Resolver, error) {
	src := &s.cfg.Sources
	src.FetchAllow = src.FetchAllow.Named("--fetch-allow")
	src.RegistryAllow = src.RegistryAllow.Named("--registry-allow")
	staging := src.Staging
	if staging == "" {
		staging = filepath.Join(filepath.Dir(filepath.Clean(s.cfg.CacheDir)), "staging")
	}
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return nil, fmt.Errorf("boot: staging: %w", err)
	}
	left, _ := filepath.Glob(filepath.Join(staging, "bmc-*"))
	for _, d := range left {
		os.RemoveAll(d) // a resolution a crash interrupted
	}
	return image.NewResolver(s.cache, image.Options{
		Limits: src.Image, Registries: src.RegistryAllow,
		Remote: s.cfg.RegistryOptions, Staging: staging, Logger: s.log,
	}), nil
}

// CheckImage is the submit-time check of a job's image, read as owner; see
// image.Resolver.Check.
func (s *Server) CheckImage(ctx context.Context, ref string, owner userfs.Identity, archs []string) (image.Checked, error) {
	return s.images.Check(ctx, ref, owner, archs)
}

// CheckSources is the submit-time check of what a job names for its
// kernel and initrd: URLs only on allowed hosts, paths only beneath a
// kernel directory. It reads nothing.
func (s *Server) CheckSources(kernel, initrd string) error {
	for _, f := range []struct{ field, v string }{{"kernel", kernel}, {"initrd", initrd}} {
		switch {
		case isURL(f.v):
			if err := s.cfg.Sources.FetchAllow.CheckURL(f.v); err != nil {
				return fmt.Errorf("%s: %w", f.field, err)
			}
		case strings.HasPrefix(f.v, "/"):
			if _, _, err := s.kernelDirOf(f.v); err != nil {
				return fmt.Errorf("%s: %w", f.field, err)
			}
		}
	}
	return nil
}

// kernelDirOf splits a job-named path into the kernel directory it lies
// beneath and the rest, lexically: the opening, as the owner and beneath
// that directory, does the rest.
func (s *Server) kernelDirOf(p string) (dir, rel string, err error) {
	clean := filepath.Clean(p)
	for i, d := range s.kernelDirs {
		// The directory as the admin wrote it (jobs write that) and as it
		// resolved at start; New keeps them in the same order.
		given, _ := filepath.Abs(s.cfg.KernelDirs[i])
		for _, base := range []string{d, given} {
			r, err := filepath.Rel(base, clean)
			if err == nil && r != "." && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) {
				return d, r, nil
			}
		}
	}
	return "", "", fmt.Errorf("%w: %s (job files must lie beneath a --kernel-dir)", ErrForbiddenPath, clean)
}

// openJobFile copies a job-named kernel or initrd into the cache, reading
// it as the job's owner beneath its kernel directory, and returns the copy.
func (s *Server) openJobFile(ctx context.Context, st *bootState, p string, owner userfs.Identity) (fetched, error) {
	dir, rel, err := s.kernelDirOf(p)
	if err != nil {
		return fetched{}, err
	}
	root, err := userfs.OpenRoot(owner, dir)
	if err != nil {
		return fetched{}, fmt.Errorf("%w: %s: %v", ErrUnknownKernel, dir, err)
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fetched{}, fmt.Errorf("%w: %s does not exist", ErrUnknownKernel, p)
		case errors.Is(err, fs.ErrPermission):
			return fetched{}, fmt.Errorf("%w: %s: permission denied (bmcctld reads job files as the job's owner)", ErrUnknownKernel, p)
		}
		// os.Root's refusal to follow a symlink out of the directory.
		return fetched{}, fmt.Errorf("%w: %s: %v", ErrForbiddenPath, p, unwrapPath(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return fetched{}, fmt.Errorf("%w: %s is not a regular file", ErrUnknownKernel, p)
	}
	if fi.Size() > s.maxDownload {
		return fetched{}, fmt.Errorf("%w: %s is over %d bytes", ErrTooLarge, p, s.maxDownload)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size())); err != nil {
		return fetched{}, fmt.Errorf("read %s: %w", p, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	l, err := s.cache.Get(ctx, "file/"+sum, func(ctx context.Context, w io.Writer) error {
		// The same descriptor, read again: if the bytes changed meanwhile
		// the copy is not what the key says, and is not published.
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(w, h), io.NewSectionReader(f, 0, fi.Size())); err != nil {
			return err
		}
		if hex.EncodeToString(h.Sum(nil)) != sum {
			return fmt.Errorf("%w: %s changed while it was read", ErrUnknownKernel, p)
		}
		return nil
	})
	if err != nil {
		return fetched{}, err
	}
	st.leases = append(st.leases, l)
	return fetched{Artifact{Source: p, Size: l.Size, Digest: l.Digest}, l.Path}, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// jobClient is the HTTP client for job-named URLs: every request, each
// redirect included, only to allowed hosts; at most 5 redirects.
func (s *Server) jobClient() *http.Client {
	c := *s.client
	c.Transport = s.cfg.Sources.FetchAllow.Transport(s.client.Transport)
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		return nil
	}
	return &c
}

// download fetches a URL once into the cache. The bytes behind a URL are
// assumed not to change: a new kernel needs a new URL. A job's URL must be
// on an allowed host and arrive within the fetch timeout.
func (s *Server) download(ctx context.Context, u string, admin bool) (*cache.Lease, error) {
	client := s.client
	if !admin {
		if err := s.cfg.Sources.FetchAllow.CheckURL(u); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDownload, err)
		}
		client = s.jobClient()
		timeout := s.cfg.Sources.FetchTimeout
		if timeout <= 0 {
			timeout = DefaultFetchTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	sum := sha256.Sum256([]byte(u))
	key := "download/" + hex.EncodeToString(sum[:])
	return s.cache.Get(ctx, key, func(ctx context.Context, w io.Writer) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrDownload, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrDownload, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			// The status only: a body could carry what the host serves
			// to nobody but the controller.
			return fmt.Errorf("%w: %s: %s", ErrDownload, u, resp.Status)
		}
		n, err := io.Copy(w, io.LimitReader(resp.Body, s.maxDownload+1))
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrDownload, u, err)
		}
		if n > s.maxDownload {
			return fmt.Errorf("%w: %s is over %d bytes", ErrTooLarge, u, s.maxDownload)
		}
		s.log.Info("downloaded", "url", u, "bytes", n)
		return nil
	})
}
