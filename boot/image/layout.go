package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// An OCI layout is read here rather than with go-containerregistry's layout
// package, which opens files by path with the daemon's privileges: a user's
// layout is read only through descriptors the user's identity opened (see
// internal/userfs), and every document is checked against the digest that
// names it before it is believed.

// maxDocBytes bounds an index, manifest or config read into memory.
const maxDocBytes = 4 << 20

// opener opens one file of a layout by its slash path ("index.json",
// "blobs/sha256/<hex>"), read-only, never through a symlink.
type opener func(name string) (*os.File, error)

type ociLayout struct {
	open opener
}

// openRegular opens name and refuses anything but a regular file: a FIFO
// would block the reader, a device would be read for the user.
func (l ociLayout) openRegular(name string) (*os.File, error) {
	f, err := l.open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrUntrusted, name)
	}
	return f, nil
}

// small reads a document of at most maxDocBytes.
func (l ociLayout) small(name string) ([]byte, error) {
	f, err := l.openRegular(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDocBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDocBytes {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrUntrusted, name, maxDocBytes)
	}
	return b, nil
}

func blobPath(h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" || len(h.Hex) != 64 {
		return "", fmt.Errorf("%w: digest %q is not sha256", ErrUntrusted, h)
	}
	return path.Join("blobs", h.Algorithm, h.Hex), nil
}

// doc reads a small blob and checks it against its descriptor.
func (l ociLayout) doc(d v1.Descriptor) ([]byte, error) {
	p, err := blobPath(d.Digest)
	if err != nil {
		return nil, err
	}
	b, err := l.small(p)
	if err != nil {
		return nil, err
	}
	if got := digestOf(b); got != d.Digest {
		return nil, fmt.Errorf("%w: %s holds %s, not the %s that names it", ErrUntrusted, p, got, d.Digest)
	}
	return b, nil
}

// root reads index.json, which no digest names.
func (l ociLayout) root() (*v1.IndexManifest, error) {
	b, err := l.small("index.json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("not an OCI layout: no index.json")
	}
	if err != nil {
		return nil, err
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not an OCI layout: index.json: %w", err)
	}
	return im, nil
}

func (l ociLayout) index(d v1.Descriptor) (v1.ImageIndex, error) {
	raw, err := l.doc(d)
	if err != nil {
		return nil, err
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", d.Digest, err)
	}
	return &layoutIndex{l: l, desc: d, raw: raw, im: im}, nil
}

func (l ociLayout) image(d v1.Descriptor) (v1.Image, error) {
	raw, err := l.doc(d)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	cfg, err := l.doc(m.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	mt := d.MediaType
	if mt == "" {
		mt = m.MediaType
	}
	return partial.CompressedToImage(&layoutImage{l: l, mt: mt, raw: raw, m: m, cfg: cfg})
}

// layoutIndex is a v1.ImageIndex whose manifest was checked against its digest.
type layoutIndex struct {
	l    ociLayout
	desc v1.Descriptor
	raw  []byte
	im   *v1.IndexManifest
}

func (x *layoutIndex) MediaType() (types.MediaType, error) { return x.desc.MediaType, nil }
func (x *layoutIndex) Digest() (v1.Hash, error)            { return x.desc.Digest, nil }
func (x *layoutIndex) Size() (int64, error)                { return int64(len(x.raw)), nil }
func (x *layoutIndex) IndexManifest() (*v1.IndexManifest, error) {
	return x.im.DeepCopy(), nil
}
func (x *layoutIndex) RawManifest() ([]byte, error) { return x.raw, nil }

func (x *layoutIndex) find(h v1.Hash) (v1.Descriptor, error) {
	for _, d := range x.im.Manifests {
		if d.Digest == h {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("index %s names no %s", x.desc.Digest, h)
}

func (x *layoutIndex) Image(h v1.Hash) (v1.Image, error) {
	d, err := x.find(h)
	if err != nil {
		return nil, err
	}
	return x.l.image(d)
}

func (x *layoutIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	d, err := x.find(h)
	if err != nil {
		return nil, err
	}
	return x.l.index(d)
}

// layoutImage is partial.CompressedImageCore over a layout; its manifest and
// config were checked against their digests, its layers are checked as
// they are read (stage).
type layoutImage struct {
	l   ociLayout
	mt  types.MediaType
	raw []byte
	m   *v1.Manifest
	cfg []byte
}

func (i *layoutImage) RawConfigFile() ([]byte, error)      { return i.cfg, nil }
func (i *layoutImage) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *layoutImage) RawManifest() ([]byte, error)        { return i.raw, nil }

func (i *layoutImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, d := range i.m.Layers {
		if d.Digest == h {
			return layoutLayer{i.l, d}, nil
		}
	}
	if i.m.Config.Digest == h {
		return layoutLayer{i.l, i.m.Config}, nil
	}
	return nil, fmt.Errorf("manifest names no blob %s", h)
}

type layoutLayer struct {
	l ociLayout
	d v1.Descriptor
}

func (b layoutLayer) Digest() (v1.Hash, error)            { return b.d.Digest, nil }
func (b layoutLayer) Size() (int64, error)                { return b.d.Size, nil }
func (b layoutLayer) MediaType() (types.MediaType, error) { return b.d.MediaType, nil }
func (b layoutLayer) Compressed() (io.ReadCloser, error) {
	p, err := blobPath(b.d.Digest)
	if err != nil {
		return nil, err
	}
	return b.l.openRegular(p)
}

// pickTagged chooses the manifest of index.json that ref's tag names (the
// only one when the reference names no tag).
func pickTagged(ref Ref, im *v1.IndexManifest) (v1.Descriptor, error) {
	var pick *v1.Descriptor
	var tags []string
	for i, d := range im.Manifests {
		n := d.Annotations[refNameAnnotation]
		tags = append(tags, n)
		if ref.Tag == "" || n == ref.Tag || strings.HasSuffix(n, ":"+ref.Tag) {
			if pick != nil && ref.Tag == "" {
				return v1.Descriptor{}, fmt.Errorf("image %s: %w: layout holds %d manifests, name one of [%s]", ref, ErrBadRef, len(im.Manifests), strings.Join(tags, " "))
			}
			if pick == nil {
				pick = &im.Manifests[i]
			}
		}
	}
	if pick == nil {
		return v1.Descriptor{}, fmt.Errorf("image %s: %w (layout has [%s])", ref, ErrNotFound, strings.Join(tags, " "))
	}
	return *pick, nil
}

// writeLayout writes the index.json and oci-layout files that make dir a
// layout holding the one manifest m.
func writeLayout(dir string, m v1.Descriptor) error {
	idx, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{m}})
	if err != nil {
		return err
	}
	if err := os.WriteFile(dir+"/index.json", idx, 0o600); err != nil {
		return err
	}
	return os.WriteFile(dir+"/oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o600)
}
