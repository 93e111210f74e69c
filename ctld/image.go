package ctld

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

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

// checkImage makes a path image absolute, checks that the submitter may read
// it (bmcctld runs as root and must not lend a job files its owner cannot
// read), and, where the cluster has real machines, asks which architectures
// the image offers: a job pinned to one it lacks is refused, and the nodes
// it could run on are narrowed to those the image supports.
func (c *Controller) checkImage(ctx context.Context, who Identity, spec *job.Spec, cwd string, nodes []*node.Node) ([]*node.Node, error) {
	if path, rewrite := imagePath(spec.Image, cwd); path != "" {
		flags := os.O_RDONLY
		if strings.HasPrefix(spec.Image, "oci:") {
			flags |= syscall.O_DIRECTORY
		}
		f, err := openAs(path, flags, who.UID, who.GID)
		if err != nil {
			return nil, fmt.Errorf("%w: image: %w", ErrInvalid, err)
		}
		f.Close()
		spec.Image = rewrite(path)
	}
	if c.cfg.ImagePlatforms == nil || !c.hasRealNodes() {
		return nodes, nil
	}
	archs, err := c.cfg.ImagePlatforms(ctx, spec.Image)
	if err != nil {
		return nil, fmt.Errorf("%w: image: %w", ErrInvalid, err)
	}
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
