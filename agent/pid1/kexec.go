package pid1

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bmc-sched/bmc/agent"
	"github.com/bmc-sched/bmc/agent/proto"
)

// maxKernel bounds an arm64 kernel gunzipped before kexec_file_load (the
// Debian arm64 Image is ~32 MB).
const maxKernel = 256 << 20

// kexec fetches the next boot's kernel and initrd into memory files, checks
// them against the request's sizes and digests, and loads them with
// kexec_file_load(2) (proto.ExecKexec). The returned jump reboots into them.
func (n *node) kexec(ctx context.Context, req proto.KexecRequest) (func(), error) {
	// A plain client: the transfers may take longer than a callback.
	api := &agent.API{BaseURL: n.callbacks().BaseURL, Token: req.Token, HTTP: &http.Client{}}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	kernel, err := fetchToMemory(ctx, api, "kernel", req.KernelURL, req.KernelSize, req.KernelDigest)
	if err != nil {
		return nil, err
	}
	defer kernel.Close()
	initrd, err := fetchToMemory(ctx, api, "initrd", req.InitrdURL, req.InitrdSize, req.InitrdDigest)
	if err != nil {
		return nil, err
	}
	defer initrd.Close()
	if runtime.GOARCH == "arm64" {
		// arm64's kexec_file_load takes only the raw Image; Debian ships it
		// gzipped (the lab's GRUB path serves it raw already).
		if kernel, err = gunzipIfNeeded(kernel); err != nil {
			return nil, err
		}
		defer kernel.Close()
	}
	if err := n.load(ctx, kernel, initrd, agent.KexecCmdline(req), req.Token); err != nil {
		return nil, err
	}
	n.log.Info("kexec loaded", "job", req.JobID, "boot", req.Boot, "kernel_bytes", req.KernelSize,
		"initrd_bytes", req.InitrdSize, "cmdline", agent.KexecCmdline(proto.KexecRequest{Cmdline: req.Cmdline, Token: "<hidden>"}),
		"took", time.Since(start).String())
	return func() {
		// Let the answer leave the machine before the NIC goes away.
		<-time.After(300 * time.Millisecond)
		n.log.Info("kexec: jumping")
		unix.Sync()
		if err := unix.Reboot(unix.LINUX_REBOOT_CMD_KEXEC); err != nil {
			n.log.Error("kexec jump failed; powering off", "err", err)
			powerOff(n.log)
		}
	}, nil
}

// load loads with kexec_file_load(2): the kernel parses the image and
// places the segments itself, and can check its signature. A kernel without
// it (ENOSYS) gets kexec-tools' kexec_load(2) instead, when the agent's
// archive carries it.
func (n *node) load(ctx context.Context, kernel, initrd *os.File, cmdline, token string) error {
	err := unix.KexecFileLoad(int(kernel.Fd()), int(initrd.Fd()), cmdline, 0)
	if errors.Is(err, unix.ENOSYS) {
		return n.loadWithTool(ctx, kexecError(err), kernel, initrd, cmdline, token)
	}
	if err != nil {
		return kexecError(err)
	}
	return nil
}

// kexecError explains the refusals a stock distribution kernel gives.
func kexecError(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EKEYREJECTED), errors.Is(err, unix.ENOKEY), errors.Is(err, unix.EBADMSG):
		return fmt.Errorf("kexec_file_load refused the kernel: the running kernel wants a signed one (lockdown under Secure Boot, or CONFIG_KEXEC_SIG_FORCE); boot this node without Secure Boot or give it kernels signed by a key it trusts: %w", err)
	case errors.Is(err, unix.ENOEXEC):
		return fmt.Errorf("kexec_file_load: not a kernel image this architecture can load (x86: bzImage; arm64: Image): %w", err)
	case errors.Is(err, unix.ENOSYS):
		// Debian's arm64 kernels (6.1) are built so; load falls back to
		// kexec-tools (KexecTool), and without it the refusal lets the
		// controller power-cycle instead of losing the node.
		return fmt.Errorf("kexec_file_load: the running kernel has no CONFIG_KEXEC_FILE (Debian's arm64 kernels) and the agent carries no kexec-tools at %s; power-cycle this node instead: %w", KexecTool, err)
	}
	return fmt.Errorf("kexec_file_load: %w", err)
}

// fetchToMemory downloads ref into a memory file (no tmpfs of the job's is
// needed) and verifies it; the file is positioned at 0.
func fetchToMemory(ctx context.Context, api *agent.API, name, ref string, size int64, digest string) (*os.File, error) {
	f, err := memFile(name)
	if err != nil {
		return nil, err
	}
	body, err := api.Get(ctx, ref)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	err = agent.CopyVerified(f, body, size, digest)
	body.Close()
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

func memFile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate("bmc-kexec-"+name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd for the %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// gunzipIfNeeded returns f itself when it is not gzip, else a new memory
// file with its contents uncompressed (and closes f).
func gunzipIfNeeded(f *os.File) (*os.File, error) {
	magic := make([]byte, 2)
	if _, err := f.ReadAt(magic, 0); err != nil || !bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		return f, nil
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("kernel: gunzip: %w", err)
	}
	out, err := memFile("kernel-image")
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(out, io.LimitReader(zr, maxKernel+1))
	if err == nil && n > maxKernel {
		err = fmt.Errorf("more than %d bytes", maxKernel)
	}
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("kernel: gunzip: %w", err)
	}
	return out, nil
}
