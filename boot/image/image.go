// Package image owns turning a job's container image into the root file
// system a node boots: it resolves a registry reference, a `docker save`
// tarball or an OCI layout directory to the image for the node's platform,
// flattens its layers into one uncompressed tar (whiteouts applied), and keeps
// that tar in the boot cache once per image.
//
// Cache key: the image's config digest. It is cheap to learn for every source
// (a docker tarball's manifest digest would need every layer recompressed),
// and two images with the same config have the same diff_ids, hence the same
// flattened tree; the config also names the platform.
package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bmc-sched/bmc/boot/cache"
)

// refNameAnnotation tags a manifest in an OCI layout's index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Resolver opens images and flattens them into the cache.
type Resolver struct {
	cache  *cache.Cache
	log    *slog.Logger
	remote []remote.Option
	tmp    string // where OCI archives are unpacked; "" = os.TempDir()
}

// NewResolver flattens into c. opts go to every registry call (auth,
// transport); each call also gets the caller's context.
func NewResolver(c *cache.Cache, log *slog.Logger, opts ...remote.Option) *Resolver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Resolver{cache: c, log: log, remote: opts}
}

// Rootfs is a flattened image held in the cache until Release.
type Rootfs struct {
	*cache.Lease        // Path, Size, Digest (sha256 of the tar stream)
	Ref          string // the reference as resolved
	Config       string // the image's config digest: the cache key
	Platform     string // e.g. "linux/amd64"
}

// Rootfs resolves ref for a node of architecture arch and returns its
// flattened tar, flattening it first if the cache does not hold it.
func (r *Resolver) Rootfs(ctx context.Context, ref, arch string) (*Rootfs, error) {
	want, err := Platform(arch)
	if err != nil {
		return nil, err
	}
	pr, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	img, done, err := r.image(ctx, pr, want)
	if err != nil {
		return nil, err
	}
	defer done()
	cfg, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", pr, err)
	}
	key := "rootfs/" + cfg.Algorithm + "-" + cfg.Hex + ".tar"
	lease, err := r.cache.Get(ctx, key, func(ctx context.Context, w io.Writer) error {
		r.log.Info("flattening image", "image", pr.String(), "config", cfg.String(), "platform", want.String())
		rc := mutate.Extract(img)
		defer rc.Close()
		_, err := io.Copy(ctxWriter{ctx, w}, rc)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: flatten: %w", pr, err)
	}
	return &Rootfs{Lease: lease, Ref: pr.String(), Config: cfg.String(), Platform: want.String()}, nil
}

// Platforms lists the node architectures an image offers ("x86_64",
// "aarch64"; others in OCI spelling), sorted. An image that is not an index
// offers the one its config names; an image whose config names no
// architecture offers none that can be checked and yields an empty list.
func (r *Resolver) Platforms(ctx context.Context, ref string) ([]string, error) {
	pr, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	img, idx, done, err := r.open(ctx, pr)
	if err != nil {
		return nil, err
	}
	defer done()
	var out []string
	if idx != nil {
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("image %s: index: %w", pr, err)
		}
		for _, d := range im.Manifests {
			if d.Platform == nil || d.Platform.OS == "unknown" {
				continue // attestations and the like
			}
			out = append(out, Arch(*d.Platform))
		}
	} else {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("image %s: config: %w", pr, err)
		}
		if cf.Architecture != "" {
			out = append(out, Arch(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ResolvePlatforms is Platforms without a cache, for the submit-time check.
func ResolvePlatforms(ctx context.Context, ref string, opts ...remote.Option) ([]string, error) {
	return (&Resolver{log: slog.New(slog.DiscardHandler), remote: opts}).Platforms(ctx, ref)
}

// image opens ref and picks the image for platform want. done frees what
// opening took (an unpacked OCI archive) once the image is no longer read.
func (r *Resolver) image(ctx context.Context, ref Ref, want v1.Platform) (_ v1.Image, done func(), err error) {
	img, idx, closer, err := r.open(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			closer()
		}
	}()
	if idx != nil {
		img, err := pickPlatform(ref, idx, want)
		if err != nil {
			return nil, nil, err
		}
		return img, closer, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: config: %w", ref, err)
	}
	// An image without an architecture in its config cannot be checked; let it boot.
	if cf.Architecture != "" {
		have := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		if !matches(have, want) {
			return nil, nil, fmt.Errorf("image %s: %w: image is %s, node needs %s", ref, ErrNoPlatform, have.String(), want.String())
		}
	}
	return img, closer, nil
}

func pickPlatform(ref Ref, idx v1.ImageIndex, want v1.Platform) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image %s: index: %w", ref, err)
	}
	var offered []string
	for _, d := range im.Manifests {
		if d.Platform == nil || !d.MediaType.IsImage() {
			continue
		}
		if matches(*d.Platform, want) {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("image %s: %s: %w", ref, d.Platform.String(), err)
			}
			return img, nil
		}
		offered = append(offered, d.Platform.String())
	}
	return nil, fmt.Errorf("image %s: %w: offers [%s], node needs %s", ref, ErrNoPlatform, strings.Join(offered, " "), want.String())
}

func noop() {}

// open returns either an image or an index for ref, and a func to call when
// done reading it.
func (r *Resolver) open(ctx context.Context, ref Ref) (v1.Image, v1.ImageIndex, func(), error) {
	img, idx, err := r.open1(ctx, ref)
	if err == nil || ref.Kind != Tarball || !isOCIArchive(ref.Path) {
		return img, idx, noop, err
	}
	dir, err := unpackLayout(ref.Path, r.tmp)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("image %s: %w", ref, err)
	}
	done := func() { os.RemoveAll(dir) }
	img, idx, err = openLayout(Ref{Kind: Layout, Path: dir})
	if err != nil {
		done()
		// Name the archive, not the temporary directory.
		return nil, nil, nil, renamed{strings.ReplaceAll(err.Error(), "oci:"+dir, ref.Path), err}
	}
	return img, idx, done, nil
}

func (r *Resolver) open1(ctx context.Context, ref Ref) (v1.Image, v1.ImageIndex, error) {
	switch ref.Kind {
	case Registry:
		opts := append(slices.Clone(r.remote), remote.WithContext(ctx))
		desc, err := remote.Get(ref.Name, opts...)
		if err != nil {
			if isNotFound(err) {
				return nil, nil, fmt.Errorf("image %s: %w", ref, ErrNotFound)
			}
			return nil, nil, fmt.Errorf("image %s: %w", ref, err)
		}
		if desc.MediaType.IsIndex() {
			idx, err := desc.ImageIndex()
			if err != nil {
				return nil, nil, fmt.Errorf("image %s: %w", ref, err)
			}
			return nil, idx, nil
		}
		img, err := desc.Image()
		if err != nil {
			return nil, nil, fmt.Errorf("image %s: %w", ref, err)
		}
		return img, nil, nil
	case Tarball:
		if _, err := os.Stat(ref.Path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil, fmt.Errorf("image %s: %w", ref, ErrNotFound)
			}
			return nil, nil, fmt.Errorf("image %s: %w", ref, err)
		}
		img, err := tarball.ImageFromPath(ref.Path, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("image %s: neither a docker save nor an OCI archive: %w", ref, err)
		}
		return img, nil, nil
	case Layout:
		return openLayout(ref)
	}
	return nil, nil, fmt.Errorf("image %s: %w", ref, ErrBadRef)
}

func openLayout(ref Ref) (v1.Image, v1.ImageIndex, error) {
	if _, err := os.Stat(ref.Path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("image %s: %w", ref, ErrNotFound)
	}
	root, err := layout.ImageIndexFromPath(ref.Path)
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: not an OCI layout: %w", ref, err)
	}
	im, err := root.IndexManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: %w", ref, err)
	}
	var pick *v1.Descriptor
	var tags []string
	for i, d := range im.Manifests {
		n := d.Annotations[refNameAnnotation]
		tags = append(tags, n)
		if ref.Tag == "" || n == ref.Tag || strings.HasSuffix(n, ":"+ref.Tag) {
			if pick != nil && ref.Tag == "" {
				return nil, nil, fmt.Errorf("image %s: %w: layout holds %d manifests, name one of [%s]", ref, ErrBadRef, len(im.Manifests), strings.Join(tags, " "))
			}
			if pick == nil {
				pick = &im.Manifests[i]
			}
		}
	}
	if pick == nil {
		return nil, nil, fmt.Errorf("image %s: %w (layout has [%s])", ref, ErrNotFound, strings.Join(tags, " "))
	}
	if pick.MediaType.IsIndex() {
		idx, err := root.ImageIndex(pick.Digest)
		if err != nil {
			return nil, nil, fmt.Errorf("image %s: %w", ref, err)
		}
		return nil, idx, nil
	}
	img, err := root.Image(pick.Digest)
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return img, nil, nil
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

// ctxWriter stops a long flatten when the Prepare that asked for it is cancelled.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// renamed is an error with a rewritten message and the original chain.
type renamed struct {
	msg string
	err error
}

func (e renamed) Error() string { return e.msg }
func (e renamed) Unwrap() error { return e.err }
