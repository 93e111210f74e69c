package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bmc-sched/bmc/internal/userfs"
)

// source is an opened image reference: an image or an index, and what
// names it.
type source struct {
	ref Ref
	img v1.Image
	idx v1.ImageIndex
	// top is the digest of what the reference names (index or manifest),
	// checked against the bytes; nil for a docker-save tarball, whose
	// digest is that of the manifest bmc writes for it (stage).
	top       *v1.Hash
	canonical bool
	done      func()
}

// open opens ref. Path references are opened as owner; everything read
// from them later goes through those descriptors.
func (r *Resolver) open(ctx context.Context, ref Ref, owner userfs.Identity, pin *v1.Hash) (*source, error) {
	s := &source{ref: ref, done: func() {}}
	var err error
	switch ref.Kind {
	case Registry:
		err = r.openRegistry(ctx, s, pin)
	case Tarball:
		err = r.openTarball(s, owner)
	case Layout:
		err = r.openLayout(s, owner)
	default:
		err = fmt.Errorf("image %s: %w", ref, ErrBadRef)
	}
	if err != nil {
		s.done()
		return nil, err
	}
	return s, nil
}

func (r *Resolver) openRegistry(ctx context.Context, s *source, pin *v1.Hash) error {
	ref := s.ref
	reg := ref.Name.Context().Registry
	if !r.allow.Allows(reg.RegistryStr(), "443") {
		if r.allow.Empty() {
			return fmt.Errorf("image %s: %w: bmcctld pulls from no registry (an admin lists registries with --registry-allow; use an OCI layout or tarball path)", ref, ErrRegistryNotAllowed)
		}
		return fmt.Errorf("image %s: %w: %s is not in --registry-allow (%s)", ref, ErrRegistryNotAllowed, reg.RegistryStr(), r.allow)
	}
	n := ref.Name
	if pin != nil {
		n = ref.Name.Context().Digest(pin.String())
	}
	desc, err := remote.Get(n, append(slices.Clone(r.remote), remote.WithContext(ctx))...)
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("image %s: %w", ref, ErrNotFound)
		}
		return fmt.Errorf("image %s: %w", ref, err)
	}
	s.top = &desc.Digest
	if desc.MediaType.IsIndex() {
		s.idx, err = desc.ImageIndex()
	} else {
		s.img, err = desc.Image()
	}
	if err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	return nil
}

func (r *Resolver) openTarball(s *source, owner userfs.Identity) error {
	ref := s.ref
	f, err := userfs.Open(owner, ref.Path, os.O_RDONLY|syscall.O_NONBLOCK)
	if err != nil {
		return pathError(ref, err)
	}
	s.done = func() { f.Close() }
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("image %s: %w: not a regular file", ref, ErrUntrusted)
	}
	if r.lim.MaxBytes > 0 && fi.Size() > r.lim.MaxBytes {
		return fmt.Errorf("image %s: %w", ref, r.tooBig(fi.Size()))
	}
	// Every read is a pread on the owner's descriptor: no path is opened
	// again, so swapping the file or a symlink after this is harmless.
	body := io.NewSectionReader(f, 0, fi.Size())
	if isOCIArchive(body) {
		dir, err := unpackLayout(body, r.tmp, r.lim)
		if err != nil {
			return fmt.Errorf("image %s: %w", ref, err)
		}
		close := s.done
		s.done = func() { close(); os.RemoveAll(dir) }
		return openLayoutOf(s, privateLayout(dir))
	}
	img, err := tarball.Image(func() (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(f, 0, fi.Size())), nil
	}, nil)
	if err != nil {
		return fmt.Errorf("image %s: neither a docker save nor an OCI archive: %w", ref, err)
	}
	s.img, s.canonical = img, true
	return nil
}

func (r *Resolver) openLayout(s *source, owner userfs.Identity) error {
	root, err := userfs.OpenRoot(owner, s.ref.Path)
	if err != nil {
		return pathError(s.ref, err)
	}
	s.done = func() { root.Close() }
	return openLayoutOf(s, ociLayout{open: root.Open})
}

func openLayoutOf(s *source, l ociLayout) error {
	im, err := l.root()
	if err != nil {
		return fmt.Errorf("image %s: %w", s.ref, err)
	}
	d, err := pickTagged(s.ref, im)
	if err != nil {
		return err
	}
	s.top = &d.Digest
	if d.MediaType.IsIndex() {
		s.idx, err = l.index(d)
	} else {
		s.img, err = l.image(d)
	}
	if err != nil {
		return fmt.Errorf("image %s: %w", s.ref, err)
	}
	return nil
}

// privateLayout reads a layout the controller itself wrote or unpacked.
func privateLayout(dir string) ociLayout {
	return ociLayout{open: func(name string) (*os.File, error) {
		return os.OpenFile(filepath.Join(dir, filepath.FromSlash(name)), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	}}
}

func pathError(ref Ref, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("image %s: %w", ref, ErrNotFound)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		// The path is the reference's; say what failed once.
		return fmt.Errorf("image %s: %w (bmcctld reads image files as the submitting user)", ref, pe.Err)
	}
	return fmt.Errorf("image %s: %w", ref, err)
}

// pick chooses the image for platform want.
func (s *source) pick(want v1.Platform) (v1.Image, error) {
	if s.idx != nil {
		return pickPlatform(s.ref, s.idx, want)
	}
	cf, err := s.img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", s.ref, err)
	}
	// An image without an architecture in its config cannot be checked; let it boot.
	if cf.Architecture != "" {
		have := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		if !matches(have, want) {
			return nil, fmt.Errorf("image %s: %w: image is %s, node needs %s", s.ref, ErrNoPlatform, have.String(), want.String())
		}
	}
	return s.img, nil
}

// checkPin compares what the reference names now with what it named at
// submit.
func (s *source) checkPin(pin, got *v1.Hash) error {
	if pin == nil || got == nil || *pin == *got {
		return nil
	}
	return fmt.Errorf("image %s: %w: it was %s at submit and is %s now; resubmit the job to boot the new one", s.ref, ErrChanged, pin, got)
}

func remoteTransport(base http.RoundTripper) http.RoundTripper {
	if base != nil {
		return base
	}
	return remote.DefaultTransport
}

func isNotFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}
