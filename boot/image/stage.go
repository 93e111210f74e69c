package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/klauspost/compress/zstd"
)

// Limits bound what one image may make the controller read and store.
// They are counted over the image's layers as stored (the sum of every
// layer's unpacked bytes and entries, before later layers delete or
// replace anything), which is also the work a flatten does: the same count
// at submit and at boot, so an image accepted at submit is not refused
// later for size.
type Limits struct {
	MaxBytes int64 // unpacked layer bytes, all layers together; <= 0: no limit
	MaxFiles int   // layer entries, all layers together; <= 0: no limit
}

// Default limits: a large distribution image is a few GiB in ~100k files.
const (
	DefaultMaxBytes = 8 << 30
	DefaultMaxFiles = 1_000_000
)

// staged is what one verified pass over an image found.
type staged struct {
	manifest v1.Descriptor // the manifest's digest: the cache key
	config   v1.Hash
	bytes    int64 // unpacked layer bytes
	files    int
}

// stage reads every byte of img once and checks it against the digest
// that names it: the config against the manifest, each layer's stored
// bytes against the manifest and its unpacked bytes against the config's
// diff_ids, so that a config copied from another image cannot vouch for
// other layers. Layers holding a device node or a FIFO are refused (the
// node agent mounts /dev itself; such entries serve no image and a FIFO or
// device is the kind of file a controller must never open). When dir is
// not "", the verified bytes are also written there as an OCI layout
// holding this one image, which a boot then flattens instead of the
// source.
//
// canonical is for a docker-save tarball, which carries no manifest: its
// layers are stored unpacked (their digest is then their diff_id) and bmc
// writes the manifest, so the same tarball always gets the same digest.
func (r *Resolver) stage(ctx context.Context, img v1.Image, canonical bool, dir string) (staged, error) {
	var st staged
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return st, fmt.Errorf("config: %w", err)
	}
	st.config = digestOf(rawCfg)
	cf, err := v1.ParseConfigFile(bytes.NewReader(rawCfg))
	if err != nil {
		return st, fmt.Errorf("%w: config: %v", ErrUntrusted, err)
	}
	var m *v1.Manifest
	var rawMan []byte
	if !canonical {
		if rawMan, err = img.RawManifest(); err != nil {
			return st, fmt.Errorf("manifest: %w", err)
		}
		if m, err = v1.ParseManifest(bytes.NewReader(rawMan)); err != nil {
			return st, fmt.Errorf("%w: manifest: %v", ErrUntrusted, err)
		}
		if m.Config.Digest != st.config || m.Config.Size != int64(len(rawCfg)) {
			return st, fmt.Errorf("%w: the config is %s, the manifest names %s", ErrUntrusted, st.config, m.Config.Digest)
		}
		// The library's structural checks (config and manifest agree with
		// what they claim); the bytes are checked below, as they are read.
		if err := validate.Image(img, validate.Fast); err != nil {
			return st, fmt.Errorf("%w: %s", ErrUntrusted, firstLine(err.Error()))
		}
	}
	layers, err := img.Layers()
	if err != nil {
		return st, fmt.Errorf("layers: %w", err)
	}
	diffIDs := cf.RootFS.DiffIDs
	if len(layers) != len(diffIDs) || (m != nil && len(m.Layers) != len(diffIDs)) {
		return st, fmt.Errorf("%w: %d layers but the config lists %d diff_ids", ErrUntrusted, len(layers), len(diffIDs))
	}
	if dir != "" {
		if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o700); err != nil {
			return st, err
		}
	}
	descs := make([]v1.Descriptor, len(layers))
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		var want v1.Descriptor
		var rc io.ReadCloser
		if canonical {
			want = v1.Descriptor{MediaType: types.OCIUncompressedLayer, Digest: diffIDs[i], Size: -1}
			rc, err = l.Uncompressed()
		} else {
			want = m.Layers[i]
			rc, err = l.Compressed()
		}
		if err != nil {
			return st, fmt.Errorf("layer %d: %w", i+1, err)
		}
		n, err := r.stageLayer(rc, want, diffIDs[i], dir, &st)
		rc.Close()
		if err != nil {
			return st, fmt.Errorf("layer %d: %w", i+1, err)
		}
		want.Size = n
		descs[i] = want
	}
	if canonical {
		cfgDesc := v1.Descriptor{MediaType: types.OCIConfigJSON, Digest: st.config, Size: int64(len(rawCfg))}
		if rawMan, err = json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cfgDesc, Layers: descs}); err != nil {
			return st, err
		}
	}
	st.manifest = v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: digestOf(rawMan), Size: int64(len(rawMan))}
	if m != nil && m.MediaType != "" {
		st.manifest.MediaType = m.MediaType
	}
	if dir == "" {
		return st, nil
	}
	for _, b := range [][]byte{rawCfg, rawMan} {
		if err := writeBlob(dir, b); err != nil {
			return st, err
		}
	}
	return st, writeLayout(dir, st.manifest)
}

// stageLayer copies one layer blob (to dir, or nowhere) while hashing its
// stored bytes and its unpacked bytes and counting its entries.
func (r *Resolver) stageLayer(rc io.Reader, want v1.Descriptor, diffID v1.Hash, dir string, st *staged) (int64, error) {
	var sink io.Writer = io.Discard
	var tmp *os.File
	if dir != "" {
		f, err := os.CreateTemp(filepath.Join(dir, "blobs", "sha256"), ".layer-*")
		if err != nil {
			return 0, err
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		tmp, sink = f, f
	}
	budget := int64(-1)
	if r.lim.MaxBytes > 0 {
		budget = r.lim.MaxBytes - st.bytes
	}
	stored := &hashCounter{h: sha256.New()}
	raw := bufio.NewReader(io.TeeReader(r.capped(rc, budget, st.bytes), io.MultiWriter(sink, stored)))
	un, err := decompress(raw)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	defer un.Close()
	unpacked := &hashCounter{h: sha256.New()}
	body := io.TeeReader(r.capped(un, budget, st.bytes), unpacked)
	if err := r.scanLayer(body, st); err != nil {
		return 0, err
	}
	// Past the tar's end marker: padding, and what the hashes must still
	// cover (bounded like the rest, so a bomb after the marker stops too).
	if _, err := io.Copy(io.Discard, body); err != nil {
		return 0, wrapUntrusted(err)
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return 0, wrapUntrusted(err)
	}
	st.bytes += unpacked.n
	if got := unpacked.sum(); got != diffID {
		return 0, fmt.Errorf("%w: its content is %s, but the config's diff_id is %s", ErrUntrusted, got, diffID)
	}
	if got := stored.sum(); got != want.Digest {
		return 0, fmt.Errorf("%w: its bytes are %s, but the manifest names %s", ErrUntrusted, got, want.Digest)
	}
	if want.Size >= 0 && stored.n != want.Size {
		return 0, fmt.Errorf("%w: %d bytes, but the manifest says %d", ErrUntrusted, stored.n, want.Size)
	}
	if tmp != nil {
		if err := tmp.Close(); err != nil {
			return 0, err
		}
		if err := os.Rename(tmp.Name(), filepath.Join(dir, "blobs", "sha256", want.Digest.Hex)); err != nil {
			return 0, err
		}
		tmp = nil
	}
	return stored.n, nil
}

// scanLayer walks a layer's tar: entry count and size against the limits,
// and no device nodes or FIFOs.
func (r *Resolver) scanLayer(body io.Reader, st *staged) error {
	tr := tar.NewReader(body)
	var n int64 // unpacked bytes of this layer so far, for an early stop
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if errors.Is(err, ErrTooBig) {
				return err
			}
			return fmt.Errorf("%w: not a tar: %v", ErrUntrusted, err)
		}
		st.files++
		if r.lim.MaxFiles > 0 && st.files > r.lim.MaxFiles {
			return fmt.Errorf("%w: over %d files (bmcctld --image-max-files)", ErrTooBig, r.lim.MaxFiles)
		}
		switch h.Typeflag {
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return fmt.Errorf("%w: %s is a %s; images may not hold device nodes or FIFOs (the node mounts its own /dev)", ErrUntrusted, h.Name, typeName(h.Typeflag))
		}
		n += h.Size
		if r.lim.MaxBytes > 0 && st.bytes+n > r.lim.MaxBytes {
			return r.tooBig(st.bytes + n)
		}
	}
}

// capped fails a read past budget bytes (-1: no limit) with the limit's
// error; base is what earlier layers used, for the message.
func (r *Resolver) capped(rd io.Reader, budget, base int64) io.Reader {
	if budget < 0 {
		return rd
	}
	return &capReader{r: rd, left: budget, err: r.tooBig(base + budget + 1)}
}

type capReader struct {
	r    io.Reader
	left int64
	err  error
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, c.err
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, c.err
	}
	return n, err
}

func wrapUntrusted(err error) error {
	if errors.Is(err, ErrTooBig) || errors.Is(err, ErrUntrusted) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrUntrusted, err)
}

func (r *Resolver) tooBig(n int64) error {
	return fmt.Errorf("%w: over %d bytes unpacked (bmcctld --image-max-bytes %d)", ErrTooBig, r.lim.MaxBytes, r.lim.MaxBytes)
}

func typeName(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	}
	return "FIFO"
}

// decompress unpacks gzip or zstd by their magic numbers; anything else is
// taken as a plain tar (which the tar reader then checks).
func decompress(r *bufio.Reader) (io.ReadCloser, error) {
	magic, _ := r.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return gzip.NewReader(r)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return io.NopCloser(r), nil
}

func writeBlob(dir string, b []byte) error {
	d := digestOf(b)
	return os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Hex), b, 0o600)
}

func digestOf(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

type hashCounter struct {
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

func (c *hashCounter) sum() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(c.h.Sum(nil))}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
