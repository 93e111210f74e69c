package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrRootfsMismatch means a download (the rootfs tar, a kexec kernel or
// initrd) is not the one the controller announced (size or digest).
var ErrRootfsMismatch = errors.New("agent: rootfs does not match its digest")

// ExtractVerified extracts a rootfs tar while hashing it, then reads the
// stream to its end and checks the size and "sha256:<hex>" digest the
// config announced. Reading stops one byte past size so a server cannot make
// the node swallow an endless stream. On a mismatch the caller must not use
// root: the files came from an unverified stream.
func ExtractVerified(r io.Reader, root string, size int64, digest string, opt ExtractOptions) (ExtractStats, error) {
	want, err := parseDigest(digest)
	if err != nil {
		return ExtractStats{}, fmt.Errorf("%w: %w", ErrRootfsMismatch, err)
	}
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(io.LimitReader(r, size+1), h)}
	if opt.MaxBytes <= 0 || opt.MaxBytes > size {
		opt.MaxBytes = size
	}
	st, err := Extract(cr, root, opt)
	if err != nil && cr.n > size {
		return st, fmt.Errorf("%w: stream longer than the announced %d bytes: %w", ErrRootfsMismatch, size, err)
	}
	if err != nil {
		return st, err
	}
	// The tar reader stops at the end-of-archive blocks; the rest (zero
	// padding to the record size) is part of the digested stream.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return st, fmt.Errorf("agent: read rootfs: %w", err)
	}
	if cr.n != size {
		return st, fmt.Errorf("%w: read %d bytes (stopping one past the end), want %d", ErrRootfsMismatch, cr.n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return st, fmt.Errorf("%w: sha256 %s, want %s", ErrRootfsMismatch, got, want)
	}
	return st, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// parseDigest returns the lower-case hex of a "sha256:<hex>" digest.
func parseDigest(digest string) (string, error) {
	want, ok := strings.CutPrefix(digest, "sha256:")
	if _, err := hex.DecodeString(want); !ok || err != nil || len(want) != sha256.Size*2 {
		return "", fmt.Errorf("unsupported digest %q", digest)
	}
	return strings.ToLower(want), nil
}

// CopyVerified copies exactly size bytes from r to w and checks their
// "sha256:<hex>" digest, reading one byte past size so a stream that is too
// long is caught. On an error w holds unverified bytes the caller must drop.
func CopyVerified(w io.Writer, r io.Reader, size int64, digest string) error {
	want, err := parseDigest(digest)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRootfsMismatch, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, size+1))
	if err != nil {
		return fmt.Errorf("agent: copy: %w", err)
	}
	if n != size {
		return fmt.Errorf("%w: read %d bytes (stopping one past the end), want %d", ErrRootfsMismatch, n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%w: sha256 %s, want %s", ErrRootfsMismatch, got, want)
	}
	return nil
}
