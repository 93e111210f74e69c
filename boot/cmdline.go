package boot

import (
	"fmt"
	"strings"

	"github.com/bmc-sched/bmc/agent/proto"
)

// MaxCmdline bounds the job's part of the kernel command line; the kernel's
// own limit (2048 on x86) must also hold our parameters and the tokens.
const MaxCmdline = 1024

// cmdlineChars is everything a kernel parameter needs in practice
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

// ValidateCmdline checks a kernel command line written by a user or an admin
// before it goes into a boot script. It refuses characters a boot loader
// would interpret and any parameter the boot script sets itself: rdinit and
// initrd (which would bypass the agent or the served initrd), bmc.* (the
// agent's URL and token), and "--" (after which the kernel hands parameters
// to init instead of reading them, so rdinit=/bmcinit would be lost).
func ValidateCmdline(s string) error {
	if len(s) > MaxCmdline {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrCmdline, len(s), MaxCmdline)
	}
	for i := 0; i < len(s); i++ {
		if !cmdlineChar(s[i]) {
			return fmt.Errorf("%w: character %q at byte %d is not allowed (letters, digits, space and -_.,:/=+@%%~ only)", ErrCmdline, s[i], i)
		}
	}
	for _, p := range strings.Fields(s) {
		key, _, _ := strings.Cut(p, "=")
		switch {
		case p == "--":
			return fmt.Errorf("%w: %q is not allowed (it would hide rdinit from the kernel)", ErrCmdline, p)
		case key == "rdinit" || key == "initrd":
			return fmt.Errorf("%w: %q is set by the boot server", ErrCmdline, key)
		case strings.HasPrefix(key, "bmc."), key == proto.ParamURL, key == proto.ParamToken:
			return fmt.Errorf("%w: %q is reserved for the node agent", ErrCmdline, key)
		}
	}
	return nil
}

// joinCmdline joins non-empty parts with single spaces.
func joinCmdline(parts ...string) string {
	var out []string
	for _, p := range parts {
		out = append(out, strings.Fields(p)...)
	}
	return strings.Join(out, " ")
}
