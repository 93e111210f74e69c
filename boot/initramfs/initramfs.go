// Package initramfs owns the initrd a node boots: the job's own initrd with a
// second, uncompressed newc cpio archive appended that holds the node agent
// as /bmcinit. The kernel unpacks concatenated archives in order, so the agent
// lands in the same rootfs without touching (or decompressing) the job's initrd.
package initramfs

import (
	"fmt"
	"io"

	"github.com/cavaliergopher/cpio"
)

// AgentPath is where the agent lands in the initramfs; boot scripts pass
// rdinit=AgentPath.
const AgentPath = "/bmcinit"

// align is the boundary the kernel expects a cpio header on after a previous
// archive (init/initramfs.c skips zero bytes between archives and rejects a
// header at an unaligned offset).
const align = 4

// Append copies initrd (which may be empty) to w, pads it with zeros to a
// 4-byte boundary, and appends a newc archive holding agent (size bytes) as
// AgentPath, mode 0755, owned by root, mtime 0 so the output is reproducible.
func Append(w io.Writer, initrd io.Reader, agent io.Reader, size int64) error {
	n, err := io.Copy(w, initrd)
	if err != nil {
		return fmt.Errorf("initramfs: copy initrd: %w", err)
	}
	if pad := (align - n%align) % align; pad > 0 {
		if _, err := w.Write(make([]byte, pad)); err != nil {
			return fmt.Errorf("initramfs: pad: %w", err)
		}
	}
	cw := cpio.NewWriter(w)
	hdr := &cpio.Header{
		Name:  AgentPath[1:], // archives name entries relative to the root
		Mode:  cpio.TypeReg | 0o755,
		Size:  size,
		Links: 1,
	}
	if err := cw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	copied, err := io.Copy(cw, agent)
	if err != nil {
		return fmt.Errorf("initramfs: copy agent: %w", err)
	}
	if copied != size {
		return fmt.Errorf("initramfs: agent is %d bytes, expected %d (changed while reading?)", copied, size)
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}
