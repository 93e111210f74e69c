package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// An OCI archive (podman save --format oci-archive, buildah, skopeo
// oci-archive:) is an OCI layout packed in a tar without docker's
// manifest.json. It is unpacked, from the owner's descriptor, into a
// private directory for the duration of one resolution.

// layoutEntry is every name an OCI layout may hold; nothing else is
// unpacked, so a hostile archive cannot write outside the directory.
var layoutEntry = regexp.MustCompile(`^(oci-layout|index\.json|blobs/[a-z0-9]+/[a-f0-9]{32,128})$`)

// isOCIArchive reports whether the tar in r holds an oci-layout file.
func isOCIArchive(r io.ReaderAt) bool {
	tr := tar.NewReader(io.NewSectionReader(r, 0, 1<<62))
	for {
		h, err := tr.Next()
		if err != nil {
			return false
		}
		if strings.TrimPrefix(h.Name, "./") == "oci-layout" {
			return true
		}
	}
}

// unpackLayout extracts the layout in the tar in r into a new directory
// under tmp and returns it; the caller removes it.
func unpackLayout(r io.ReaderAt, tmp string, lim Limits) (string, error) {
	dir, err := os.MkdirTemp(tmp, "bmc-oci-archive-")
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	var total int64
	tr := tar.NewReader(io.NewSectionReader(r, 0, 1<<62))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%w: read OCI archive: %v", ErrUntrusted, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag != tar.TypeReg || !layoutEntry.MatchString(name) {
			continue
		}
		if total += h.Size; lim.MaxBytes > 0 && total > lim.MaxBytes {
			return "", fmt.Errorf("%w: OCI archive over %d bytes (bmcctld --image-max-bytes)", ErrTooBig, lim.MaxBytes)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return "", err
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return "", fmt.Errorf("unpack OCI archive: %w", err)
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("unpack OCI archive: %w", err)
		}
	}
	ok = true
	return dir, nil
}
