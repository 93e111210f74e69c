// Package initramfs owns the initrd a node boots: the job's own initrd with a
// second, zstd-compressed newc cpio archive appended that holds the node
// agent as /bmcinit (and, for an architecture whose kernels need it,
// kexec-tools as /bmc-kexec). The kernel unpacks concatenated archives in order, each
// compressed or not, so the agent lands in the same rootfs without touching
// (or decompressing) the job's initrd.
package initramfs

import (
	"fmt"
	"io"
	"strings"

	"github.com/cavaliergopher/cpio"
	"github.com/klauspost/compress/zstd"
)

// Format names how Append lays out the agent's archive; a cache of
// assembled initrds keys on it so a change of format rebuilds them.
//
// Why zstd: the agent is ~7.5 MB and every boot transfers it through the
// firmware's HTTP client and unpacks it in the kernel. zstd shrinks it to
// about 40 % and is the cheapest of the kernel's decompressors after lz4
// (which compresses far less); Debian's kernels build it in (CONFIG_RD_ZSTD=y,
// like gzip, xz, lzma, bzip2, lzo and lz4). The encoder is a pure Go library,
// so bmcctld needs no zstd binary.
const Format = "zstd1"

// AgentPath is where the agent lands in the initramfs; boot scripts pass
// rdinit=AgentPath.
const AgentPath = "/bmcinit"

// KexecPath is where the archive carries kexec-tools' static kexec, for the
// agent's kexec on kernels without kexec_file_load (agent/pid1.KexecTool).
const KexecPath = "/bmc-kexec"

// File is one more executable of the agent's archive.
type File struct {
	Path string // absolute, in the initramfs's root directory
	Size int64
	Data io.Reader
}

// align is the boundary the kernel expects a cpio header on after a previous
// archive (init/initramfs.c skips zero bytes between archives and rejects a
// header at an unaligned offset).
const align = 4

// Append copies initrd (which may be empty) to w, pads it with zeros to a
// 4-byte boundary, and appends a zstd-compressed newc archive holding agent
// (size bytes) as AgentPath and then each of extra, mode 0755, owned by
// root, mtime 0 so the output is reproducible.
func Append(w io.Writer, initrd io.Reader, agent io.Reader, size int64, extra ...File) error {
	n, err := io.Copy(w, initrd)
	if err != nil {
		return fmt.Errorf("initramfs: copy initrd: %w", err)
	}
	if pad := (align - n%align) % align; pad > 0 {
		if _, err := w.Write(make([]byte, pad)); err != nil {
			return fmt.Errorf("initramfs: pad: %w", err)
		}
	}
	// One encoder goroutine keeps the output the same from run to run; the
	// window covers the whole archive, well inside the kernel's limit (128 MiB).
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(8<<20), zstd.WithEncoderCRC(true))
	if err != nil {
		return fmt.Errorf("initramfs: zstd: %w", err)
	}
	cw := cpio.NewWriter(zw)
	for _, f := range append([]File{{Path: AgentPath, Size: size, Data: agent}}, extra...) {
		if err := writeFile(cw, f); err != nil {
			return err
		}
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("initramfs: zstd: %w", err)
	}
	return nil
}

func writeFile(cw *cpio.Writer, f File) error {
	hdr := &cpio.Header{
		Name:  strings.TrimPrefix(f.Path, "/"), // archives name entries relative to the root
		Mode:  cpio.TypeReg | 0o755,
		Size:  f.Size,
		Links: 1,
	}
	if err := cw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	copied, err := io.Copy(cw, f.Data)
	if err != nil {
		return fmt.Errorf("initramfs: copy %s: %w", f.Path, err)
	}
	if copied != f.Size {
		return fmt.Errorf("initramfs: %s is %d bytes, expected %d (changed while reading?)", f.Path, copied, f.Size)
	}
	return nil
}
