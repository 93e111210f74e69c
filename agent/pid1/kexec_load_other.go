//go:build !arm64

package pid1

import "os"

// loadKernel loads the next kernel; Debian's x86 kernels have
// CONFIG_KEXEC_FILE=y.
func loadKernel(kernel, initrd *os.File, cmdline string) error {
	return fileLoad(kernel, initrd, cmdline)
}
