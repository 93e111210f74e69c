package pid1

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bmc-sched/bmc/agent"
	"github.com/bmc-sched/bmc/boot/initramfs"
)

// The agent looks for kexec-tools where the controller puts it.
func TestKexecToolPathMatchesArchive(t *testing.T) {
	if KexecTool != initramfs.KexecPath {
		t.Fatalf("pid1.KexecTool %q != initramfs.KexecPath %q", KexecTool, initramfs.KexecPath)
	}
}

// TestToolLoad runs stand-ins for kexec-tools: the arguments (kexec_load,
// the two inherited memory files, the command line) and the error with its
// reason, the token hidden.
func TestToolLoad(t *testing.T) {
	const token = "tok-secret-123"
	cmdline := "console=ttyAMA0 bmc.token=" + token
	tests := []struct {
		name    string
		script  string // the stand-in's body; "" for no tool at all
		wantErr string // "" for success
	}{
		{name: "loads", script: `
[ "$1 $2 $3 $4 $5" = "-c -i -l /proc/self/fd/3 --initrd=/proc/self/fd/4" ] || { echo "args: $*"; exit 2; }
[ "$6" = "--append=console=ttyAMA0 bmc.token=tok-secret-123" ] || { echo "append: $6"; exit 2; }
[ "$(cat /proc/self/fd/3)" = KERNEL ] && [ "$(cat /proc/self/fd/4)" = INITRD ] || { echo files; exit 2; }`},
		{name: "fails with its last line, token hidden", script: `
echo "Try gzip decompression."
echo "kexec_load failed: Operation not permitted ($6)" >&2
exit 1`, wantErr: "kexec-tools (kexec_load): kexec_load failed: Operation not permitted (--append=console=ttyAMA0 bmc.token=<hidden>): exit status 1"},
		{name: "silent failure", script: "exit 3", wantErr: "kexec-tools (kexec_load): no output: exit status 3"},
		{name: "no tool", wantErr: "no kexec-tools at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tool := filepath.Join(dir, "kexec")
			if tt.script != "" {
				if err := os.WriteFile(tool, []byte("#!/bin/sh\n"+tt.script+"\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			kernel, initrd := tempWith(t, dir, "KERNEL"), tempWith(t, dir, "INITRD")
			err := toolLoad(context.Background(), agent.NewReaper(), tool, kernel, initrd, cmdline, token)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("toolLoad: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("toolLoad = %v, want %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), token):
				t.Fatalf("the token leaked: %v", err)
			}
			if tt.script == "" && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("no tool: %v is not fs.ErrNotExist (the ENOSYS refusal stands)", err)
			}
		})
	}
}

func tempWith(t *testing.T, dir, content string) *os.File {
	t.Helper()
	f, err := os.CreateTemp(dir, "f")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return f
}
