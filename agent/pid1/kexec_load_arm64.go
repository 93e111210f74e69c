//go:build arm64

package pid1

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/u-root/u-root/pkg/boot/kexec"
	"github.com/u-root/u-root/pkg/boot/linux"
	"github.com/u-root/u-root/pkg/dt"
	"golang.org/x/sys/unix"
)

// loadKernel loads the next kernel. Debian's arm64 kernels are built
// without CONFIG_KEXEC_FILE (6.1: only KEXEC=y), so after kexec_file_load
// answers ENOSYS the older kexec_load(2) does it: u-root's loader places the
// Image, the initrd and the device tree (this boot's, with the new command
// line and initrd) and a trampoline that enters the kernel with the device
// tree in x0 — no purgatory.
func loadKernel(kernel, initrd *os.File, cmdline string) error {
	err := fileLoad(kernel, initrd, cmdline)
	if err == nil || !errors.Is(err, unix.ENOSYS) {
		return err
	}
	fdt, err := fdtWithMemory()
	if err != nil {
		return fmt.Errorf("kexec_load: %w", err)
	}
	var dtb bytes.Buffer
	if _, err := fdt.Write(&dtb); err != nil {
		return fmt.Errorf("kexec_load: device tree: %w", err)
	}
	if err := linux.KexecLoad(kernel, initrd, cmdline, bytes.NewReader(dtb.Bytes()), nil); err != nil {
		return kexecError(fmt.Errorf("kexec_load: %w", err))
	}
	return nil
}

// fdtWithMemory is the device tree this kernel booted with, where the
// loader finds the RAM it may place segments in. Under UEFI the EFI stub
// deleted the memory nodes (the kernel takes the UEFI memory map instead,
// and so will the next one, through the same /chosen properties); they are
// put back from /proc/iomem, as the RAM this kernel has not reserved, so no
// segment lands on firmware, runtime-services or still-reserved memory.
func fdtWithMemory() (*dt.FDT, error) {
	fdt, err := dt.ReadFile("/sys/firmware/fdt")
	if err != nil {
		return nil, fmt.Errorf("device tree: %w", err)
	}
	mm, err := kexec.MemoryMapFromFDT(fdt)
	if err != nil {
		return nil, fmt.Errorf("device tree memory: %w", err)
	}
	if len(mm.RAM()) > 0 {
		return fdt, nil
	}
	io, err := kexec.MemoryMapFromIOMem()
	if err != nil {
		return nil, fmt.Errorf("/proc/iomem: %w", err)
	}
	for _, r := range io.RAM() {
		fdt.RootNode.Children = append(fdt.RootNode.Children, dt.NewNode(fmt.Sprintf("memory@%x", r.Start),
			dt.WithProperty(dt.PropertyString("device_type", "memory"), dt.PropertyRegion("reg", uint64(r.Start), uint64(r.Size)))))
	}
	if len(io.RAM()) == 0 {
		return nil, errors.New("no System RAM in /proc/iomem")
	}
	return fdt, nil
}
