package image

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Sentinel errors; the boot server wraps them so a job fails with a reason.
var (
	ErrBadRef      = errors.New("bad image reference")
	ErrNotFound    = errors.New("not found")
	ErrNoPlatform  = errors.New("no matching platform")
	ErrUnknownArch = errors.New("unknown node architecture")
	// ErrUntrusted is an image whose bytes do not match the digests that
	// name them, or that holds what no image may (device nodes, FIFOs).
	ErrUntrusted = errors.New("refused")
	// ErrTooBig is an image over --image-max-bytes or --image-max-files.
	ErrTooBig = errors.New("too big")
	// ErrChanged is a path image whose content changed after submit.
	ErrChanged = errors.New("changed since submit")
	// ErrRegistryNotAllowed is a registry the admin did not list.
	ErrRegistryNotAllowed = errors.New("registry not allowed")
)

// Kind says where an image reference points.
type Kind int

const (
	Registry Kind = iota // "127.0.0.1:5000/app:1", "alpine@sha256:..."
	Tarball              // "/path/app.tar": a `docker save` archive
	Layout               // "oci:/path/dir" or "oci:/path/dir:tag"
)

func (k Kind) String() string {
	switch k {
	case Registry:
		return "registry"
	case Tarball:
		return "tarball"
	case Layout:
		return "oci-layout"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Ref is a parsed image reference.
type Ref struct {
	Kind Kind
	Name name.Reference // Registry only
	Path string         // Tarball, Layout: absolute, cleaned
	Tag  string         // Layout only: the org.opencontainers.image.ref.name to pick; "" = the only manifest
}

func (r Ref) String() string {
	switch r.Kind {
	case Registry:
		return r.Name.String()
	case Layout:
		if r.Tag != "" {
			return "oci:" + r.Path + ":" + r.Tag
		}
		return "oci:" + r.Path
	}
	return r.Path
}

// ParseRef reads an image reference as a job file writes it. File references
// must be absolute: the controller resolves them, not the submitting shell.
func ParseRef(s string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("%w: empty", ErrBadRef)
	}
	for _, c := range s {
		if c < 0x21 || c == 0x7f {
			return Ref{}, fmt.Errorf("%w: %q contains a space or control character", ErrBadRef, s)
		}
	}
	if rest, ok := strings.CutPrefix(s, "oci:"); ok {
		path, tag := rest, ""
		// A tag follows the last colon only if it holds no slash: "oci:/a:b/c" is a path.
		if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i+1:], "/") {
			path, tag = rest[:i], rest[i+1:]
			if tag == "" {
				return Ref{}, fmt.Errorf("%w: %q has an empty tag", ErrBadRef, s)
			}
		}
		if !filepath.IsAbs(path) {
			return Ref{}, fmt.Errorf("%w: %q: OCI layout path must be absolute", ErrBadRef, s)
		}
		return Ref{Kind: Layout, Path: filepath.Clean(path), Tag: tag}, nil
	}
	if strings.HasPrefix(s, "/") {
		return Ref{Kind: Tarball, Path: filepath.Clean(s)}, nil
	}
	if strings.HasPrefix(s, ".") {
		return Ref{}, fmt.Errorf("%w: %q: image file path must be absolute", ErrBadRef, s)
	}
	n, err := name.ParseReference(s)
	if err != nil {
		return Ref{}, fmt.Errorf("%w: %q: %v", ErrBadRef, s, err)
	}
	return Ref{Kind: Registry, Name: n}, nil
}

// Platform is the OCI platform a node architecture runs.
func Platform(arch string) (v1.Platform, error) {
	switch arch {
	case "x86_64", "amd64":
		return v1.Platform{OS: "linux", Architecture: "amd64"}, nil
	case "aarch64", "arm64":
		return v1.Platform{OS: "linux", Architecture: "arm64"}, nil
	}
	return v1.Platform{}, fmt.Errorf("%w: %q", ErrUnknownArch, arch)
}

// Arch names a platform the way node configs do ("x86_64", "aarch64"); a
// platform no node can run keeps its OCI spelling ("linux/riscv64").
func Arch(p v1.Platform) string {
	if p.OS == "linux" || p.OS == "" {
		switch p.Architecture {
		case "amd64":
			return "x86_64"
		case "arm64":
			return "aarch64"
		}
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// matches is looser than v1.Platform.Satisfies on purpose: arm64 images are
// published both with and without variant "v8", and nodes do not say.
func matches(have, want v1.Platform) bool {
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	return want.Variant == "" || have.Variant == "" || have.Variant == want.Variant
}
