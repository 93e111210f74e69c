package pid1

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bmc-sched/bmc/agent"
)

// KexecTool is where the agent's archive carries kexec-tools' static kexec
// for the architectures whose distribution kernels lack kexec_file_load
// (Debian's arm64); it must equal boot/initramfs.KexecPath.
const KexecTool = "/bmc-kexec"

// maxToolOutput bounds what is kept of kexec-tools' output for an error.
const maxToolOutput = 4 << 10

// toolLoad loads kernel and initrd with kexec-tools' `kexec -l` through the
// kexec_load(2) syscall (-c): it places the segments from user space, builds
// the next kernel's device tree from /sys/firmware/fdt — the one the EFI
// stub handed over, whose chosen node holds the UEFI system table and
// memory map a kernel needs under UEFI — and enters it through its own
// purgatory. The
// files reach it as inherited descriptors, so the verified memory files are
// what it loads and nothing touches a file system.
// secret (the next boot's token, part of cmdline) never reaches the error.
func toolLoad(ctx context.Context, reaper *agent.Reaper, tool string, kernel, initrd *os.File, cmdline, secret string) error {
	if _, err := os.Stat(tool); err != nil {
		return fmt.Errorf("no kexec-tools at %s: %w", tool, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// -i: no sha256 of the segments in user space and again in the
	// purgatory before the jump (10 s of the lab's emulated 14 s kexec): the
	// agent has just checked the files' digests, and the loaded segments sit
	// in kernel memory no process can write.
	cmd := exec.CommandContext(ctx, tool, "-c", "-i", "-l", "/proc/self/fd/3",
		"--initrd=/proc/self/fd/4", "--append="+cmdline)
	cmd.ExtraFiles = []*os.File{kernel, initrd}
	out := &tailBuffer{max: maxToolOutput}
	cmd.Stdout, cmd.Stderr = out, out
	if err := reaper.Run(cmd); err != nil {
		line := out.lastLine()
		if secret != "" {
			line = strings.ReplaceAll(line, secret, "<hidden>")
		}
		return fmt.Errorf("kexec-tools (kexec_load): %s: %w", line, err)
	}
	return nil
}

// loadWithTool is fileLoad's fallback where the kernel has no
// kexec_file_load: kexec-tools when the agent carries it, else the ENOSYS
// refusal as it was.
func (n *node) loadWithTool(ctx context.Context, fileErr error, kernel, initrd *os.File, cmdline, token string) error {
	err := toolLoad(ctx, n.reaper, KexecTool, kernel, initrd, cmdline, token)
	if errors.Is(err, fs.ErrNotExist) {
		return fileErr
	}
	if err != nil {
		return fmt.Errorf("kexec_file_load: %w; then %w", unix.ENOSYS, err)
	}
	n.log.Info("kexec: no kexec_file_load here; loaded with kexec-tools", "tool", KexecTool)
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// lastLine is the last non-empty line, where kexec-tools says why it failed.
func (t *tailBuffer) lastLine() string {
	lines := strings.Split(strings.TrimSpace(string(bytes.ToValidUTF8(t.b, nil))), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	return "no output"
}
