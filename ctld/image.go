package ctld

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/bmc-sched/bmc/boot/image"
	"github.com/bmc-sched/bmc/internal/userfs"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// ImageChecker is the boot server's part of submit: it reads a path image
// as the submitter and verifies it, and it holds kernel and initrd URLs to
// the admin's list (boot.Server implements it).
type ImageChecker interface {
	CheckImage(ctx context.Context, ref string, owner userfs.Identity, archs []string) (image.Checked, error)
	CheckSources(kernel, initrd string) error
}

// imagePath returns the file or directory a path-like image names (a docker
// or OCI tarball, or an OCI layout directory), made absolute against the
// submitter's directory; "" for a registry reference.
func imagePath(ref, cwd string) (path string, rewrite func(string) string) {
	if dir, ok := strings.CutPrefix(ref, "oci:"); ok {
		tag := ""
		if i := strings.LastIndexByte(dir, ':'); i > strings.LastIndexByte(dir, '/') {
			dir, tag = dir[:i], dir[i:]
		}
		return dir, func(p string) string { return "oci:" + p + tag }
	}
	if strings.HasSuffix(ref, ".tar") || strings.HasSuffix(ref, ".tar.gz") {
		if !filepath.IsAbs(ref) && cwd != "" {
			ref = filepath.Join(cwd, ref)
		}
		return filepath.Clean(ref), func(p string) string { return p }
	}
	return "", nil
}

// checkImage makes a path image absolute and, where the cluster has real
// machines, has the boot server read it as the submitter and verify it
// (docs/security.md, "Users and their files"): the digest it finds is
// pinned in the job, and a boot must find the same bytes. A job pinned to
// an architecture the image lacks is refused, and the nodes it could run
// on are narrowed to those the image supports.
func (c *Controller) checkImage(ctx context.Context, who Identity, spec *job.Spec, cwd string, nodes []*node.Node) ([]*node.Node, error) {
	// Filled in here only, never taken from the client.
	spec.ImageArchs, spec.ImageDigest = nil, ""
	owner := userfs.Lookup(who.UID, who.GID)
	path, rewrite := imagePath(spec.Image, cwd)
	if path != "" {
		spec.Image = rewrite(path)
	}
	if c.cfg.Images == nil || !c.hasRealNodes() {
		// Simulated machines boot nothing; still refuse what the
		// submitter could not read.
		if path != "" {
			flags := os.O_RDONLY | syscall.O_NONBLOCK
			if strings.HasPrefix(spec.Image, "oci:") {
				flags |= syscall.O_DIRECTORY
			}
			f, err := userfs.Open(owner, path, flags)
			if err != nil {
				return nil, fmt.Errorf("%w: image: %w", ErrInvalid, err)
			}
			f.Close()
		}
		return nodes, nil
	}
	if err := c.cfg.Images.CheckSources(spec.Kernel, spec.Initrd); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var clusterArchs []string
	for _, n := range nodes {
		if !slices.Contains(clusterArchs, n.Arch) {
			clusterArchs = append(clusterArchs, n.Arch)
		}
	}
	ck, err := c.cfg.Images.CheckImage(ctx, spec.Image, owner, clusterArchs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	spec.Image, spec.ImageDigest = ck.Ref, ck.Digest
	archs := ck.Archs
	if len(archs) == 0 {
		return nodes, nil // the image names no architecture: any node may try
	}
	// The scheduler keeps the job off machines the image cannot run on
	// (reason ImageArch), e.g. an arch = "any" job with an amd64-only image.
	spec.ImageArchs = slices.Sorted(slices.Values(archs))
	if a := spec.Arch; a != "" && a != job.ArchAny && !slices.Contains(archs, a) {
		return nil, fmt.Errorf("%w: image %s has no variant for %s (it offers %s)", ErrInvalid, spec.Image, a, strings.Join(archs, ", "))
	}
	var fit []*node.Node
	for _, n := range nodes {
		if slices.Contains(archs, n.Arch) {
			fit = append(fit, n)
		}
	}
	return fit, nil
}

func (c *Controller) hasRealNodes() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, n := range c.nodes {
		if !n.m.Simulated() {
			return true
		}
	}
	return false
}
