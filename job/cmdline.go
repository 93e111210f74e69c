package job

import (
	"fmt"
	"strings"
)

// cmdlineChar is everything a kernel parameter needs in practice
// (console=ttyS0,115200n8 root=/dev/x ip=a:b:c:d loglevel=7 earlycon=pl011,0x9000000).
// Everything else is refused rather than escaped: iPXE and GRUB expand "$",
// treat "#" as a comment, "||" "&&" ";" as command separators, and quotes and
// backslashes as syntax, and the kernel gives quotes meaning of its own.
func cmdlineChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte(" -_.,:/=+@%~", c) >= 0
}

// ValidateCmdline checks a kernel command line a user or an admin wrote
// before it goes into a boot script. It refuses characters a boot loader
// would interpret and any parameter the boot script sets itself: rdinit and
// initrd (which would bypass the agent or the served initrd), bmc.* (the
// agent's URL and token), and "--" (after which the kernel hands parameters
// to init instead of reading them, so rdinit would be lost). The job file's
// check and the boot server's are this one function, so a job is refused at
// submit, not after a machine was given to it.
func ValidateCmdline(s string) error {
	if len(s) > MaxCmdlineLen {
		return fmt.Errorf("%d bytes, at most %d", len(s), MaxCmdlineLen)
	}
	for i := 0; i < len(s); i++ {
		if !cmdlineChar(s[i]) {
			return fmt.Errorf("character %q at byte %d is not allowed (letters, digits, space and -_.,:/=+@%%~ only)", s[i], i)
		}
	}
	for _, p := range strings.Fields(s) {
		key, _, _ := strings.Cut(p, "=")
		switch {
		case p == "--":
			return fmt.Errorf("%q is not allowed (it would hide rdinit from the kernel)", p)
		case key == "rdinit" || key == "initrd":
			return fmt.Errorf("%q is set by the boot server", key)
		case strings.HasPrefix(key, "bmc."):
			return fmt.Errorf("%q is reserved for the node agent", key)
		}
	}
	return nil
}
