// Package image owns turning a job's container image into the root file
// system a node boots: it resolves a registry reference, a `docker save` or
// OCI tarball, or an OCI layout directory to the image for the node's
// platform, checks every byte of it against the digests that name it,
// flattens its layers into one uncompressed tar (whiteouts applied), and
// keeps that tar in the boot cache once per image manifest.
//
// Trust (docs/security.md, "Users and their files"): a path image is read
// only through descriptors opened with the job owner's identity; a registry
// is contacted only when an admin lists it. Every layer is checked against
// the manifest and the config's diff_ids before anything is cached, and the
// cache key is the digest of the verified manifest, so a cache entry is
// shared only by images whose bytes are the same. A path image is read and
// verified again at every boot, so a cache hit never lends a user an image
// they could not show they hold.
package image

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bmc-sched/bmc/boot/cache"
	"github.com/bmc-sched/bmc/internal/netallow"
	"github.com/bmc-sched/bmc/internal/userfs"
)

// refNameAnnotation tags a manifest in an OCI layout's index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Options configure a Resolver.
type Options struct {
	Limits Limits
	// Registries are the registry hosts images may be pulled from, and
	// where those registries may redirect (blob stores, token services).
	Registries netallow.List
	// Remote goes to every registry call (auth); Transport (nil: the
	// default) is wrapped so that it reaches only Registries.
	Remote    []remote.Option
	Transport http.RoundTripper
	// Staging is where images are verified into before they are flattened
	// ("" = os.TempDir()); it needs room for the largest image.
	Staging string
	Logger  *slog.Logger
}

// Resolver opens images and flattens them into the cache.
type Resolver struct {
	cache  *cache.Cache
	log    *slog.Logger
	remote []remote.Option
	allow  netallow.List
	lim    Limits
	tmp    string
}

// NewResolver flattens into c (nil: Check only).
func NewResolver(c *cache.Cache, o Options) *Resolver {
	r := &Resolver{cache: c, log: o.Logger, allow: o.Registries, lim: o.Limits, tmp: o.Staging}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.remote = append(slices.Clone(o.Remote), remote.WithTransport(o.Registries.Transport(remoteTransport(o.Transport))))
	return r
}

// Request is one image for one node.
type Request struct {
	Ref   string
	Arch  string          // the node's architecture
	Owner userfs.Identity // whose files a path image is read as
	// Digest is what Check returned at submit ("" = not pinned): a
	// registry image is pulled by it, and a path image must still have it.
	Digest string
}

// Rootfs is a flattened image held in the cache until Release.
type Rootfs struct {
	*cache.Lease        // Path, Size, Digest (sha256 of the tar stream)
	Ref          string // the reference as resolved
	Manifest     string // the verified manifest's digest: the cache key
	Config       string // the image's config digest
	Platform     string // e.g. "linux/amd64"
}

// Rootfs resolves req for a node and returns its flattened tar, verifying
// and flattening it first when the cache does not hold it.
func (r *Resolver) Rootfs(ctx context.Context, req Request) (_ *Rootfs, err error) {
	defer recoverMalformed(req.Ref, &err)
	want, err := Platform(req.Arch)
	if err != nil {
		return nil, err
	}
	pr, err := ParseRef(req.Ref)
	if err != nil {
		return nil, err
	}
	var pin *v1.Hash
	if req.Digest != "" {
		h, err := v1.NewHash(req.Digest)
		if err != nil {
			return nil, fmt.Errorf("image %s: pinned digest: %w", pr, err)
		}
		pin = &h
	}
	src, err := r.open(ctx, pr, req.Owner, pin)
	if err != nil {
		return nil, err
	}
	defer src.done()
	if err := src.checkPin(pin, src.top); err != nil {
		return nil, err
	}
	img, err := src.pick(want)
	if err != nil {
		return nil, err
	}
	out := &Rootfs{Ref: pr.String(), Platform: want.String()}
	fail := func(err error) (*Rootfs, error) { return nil, fmt.Errorf("image %s: %w", pr, err) }
	if pr.Kind == Registry {
		// The registry an admin allowed vouches for what the digest names:
		// a hit needs no download.
		md, err := img.Digest()
		if err != nil {
			return fail(err)
		}
		out.Manifest = md.String()
		out.Lease, err = r.cache.Get(ctx, cacheKey(md), func(ctx context.Context, w io.Writer) error {
			dir, err := os.MkdirTemp(r.tmp, "bmc-stage-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			st, err := r.stage(ctx, img, false, dir)
			if err != nil {
				return err
			}
			out.Config = st.config.String()
			return r.flatten(ctx, pr, dir, st, w)
		})
		if err != nil {
			return fail(err)
		}
		if out.Config == "" {
			if h, err := img.ConfigName(); err == nil {
				out.Config = h.String()
			}
		}
		return out, nil
	}
	// A path image is read through the owner's descriptors into a private
	// copy and verified there, hit or miss: the cache lends its entry only
	// to a job that just showed it holds the same bytes.
	dir, err := os.MkdirTemp(r.tmp, "bmc-stage-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	st, err := r.stage(ctx, img, src.canonical, dir)
	if err != nil {
		return fail(err)
	}
	if src.canonical {
		if err := src.checkPin(pin, &st.manifest.Digest); err != nil {
			return nil, err
		}
	}
	out.Manifest, out.Config = st.manifest.Digest.String(), st.config.String()
	out.Lease, err = r.cache.Get(ctx, cacheKey(st.manifest.Digest), func(ctx context.Context, w io.Writer) error {
		return r.flatten(ctx, pr, dir, st, w)
	})
	if err != nil {
		return fail(err)
	}
	return out, nil
}

func cacheKey(manifest v1.Hash) string {
	return "rootfs/" + manifest.Algorithm + "-" + manifest.Hex + ".tar"
}

// flatten writes the image staged (verified) in dir as one tar.
func (r *Resolver) flatten(ctx context.Context, ref Ref, dir string, st staged, w io.Writer) error {
	img, err := privateLayout(dir).image(st.manifest)
	if err != nil {
		return err
	}
	r.log.Info("flattening image", "image", ref.String(), "manifest", st.manifest.Digest.String(), "layer_bytes", st.bytes, "files", st.files)
	rc := mutate.Extract(img)
	defer rc.Close()
	_, err = io.Copy(ctxWriter{ctx, w}, rc)
	return err
}

// Checked is what submit learns of an image.
type Checked struct {
	Ref    string   // the reference as resolved (absolute paths)
	Digest string   // what the reference names now: a boot must find the same
	Archs  []string // node architectures the image offers, sorted; empty = it names none
}

// Check is the submit-time look at an image: its platforms and digest. A
// path image is read as owner and verified in full (digests, diff_ids,
// limits, special files) for every platform in archs, so that a bad image
// is refused at submit with the reason; a registry image is only resolved
// (its layers are pulled at boot).
func (r *Resolver) Check(ctx context.Context, ref string, owner userfs.Identity, archs []string) (_ Checked, err error) {
	defer recoverMalformed(ref, &err)
	pr, err := ParseRef(ref)
	if err != nil {
		return Checked{}, err
	}
	src, err := r.open(ctx, pr, owner, nil)
	if err != nil {
		return Checked{}, err
	}
	defer src.done()
	out := Checked{Ref: pr.String()}
	if src.top != nil {
		out.Digest = src.top.String()
	}
	var imgs []v1.Image
	if src.idx != nil {
		im, err := src.idx.IndexManifest()
		if err != nil {
			return Checked{}, fmt.Errorf("image %s: index: %w", pr, err)
		}
		for _, d := range im.Manifests {
			if d.Platform == nil || d.Platform.OS == "unknown" {
				continue // attestations and the like
			}
			a := Arch(*d.Platform)
			out.Archs = append(out.Archs, a)
			if pr.Kind != Registry && d.MediaType.IsImage() && slices.Contains(archs, a) {
				img, err := src.idx.Image(d.Digest)
				if err != nil {
					return Checked{}, fmt.Errorf("image %s: %s: %w", pr, d.Platform, err)
				}
				imgs = append(imgs, img)
			}
		}
	} else {
		cf, err := src.img.ConfigFile()
		if err != nil {
			return Checked{}, fmt.Errorf("image %s: config: %w", pr, err)
		}
		if cf.Architecture != "" {
			out.Archs = append(out.Archs, Arch(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}))
		}
		if pr.Kind != Registry {
			imgs = append(imgs, src.img)
		}
	}
	for _, img := range imgs {
		st, err := r.stage(ctx, img, src.canonical, "")
		if err != nil {
			return Checked{}, fmt.Errorf("image %s: %w", pr, err)
		}
		if src.canonical {
			out.Digest = st.manifest.Digest.String()
		}
	}
	slices.Sort(out.Archs)
	out.Archs = slices.Compact(out.Archs)
	return out, nil
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

// recoverMalformed turns a panic of the image library on a malformed
// image (go-containerregistry v0.20.6's tarball reader indexes a docker
// manifest's layers by the config's diff_ids unchecked) into the job's
// error: a user's file must never stop the controller.
func recoverMalformed(ref string, err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("image %s: %w: malformed image (%v)", ref, ErrUntrusted, p)
	}
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
