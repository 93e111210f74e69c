package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRejects(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("pw\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	ok := []string{"--listen", "127.0.0.1:0", "--password-file", pass, "--startcmd", "/bin/true",
		"--pidfile", filepath.Join(dir, "qemu.pid"), "--watts-file", filepath.Join(dir, "w"), "--joules-file", filepath.Join(dir, "j")}
	with := func(k, v string) []string {
		out := append([]string(nil), ok...)
		for i := range out {
			if out[i] == k {
				out[i+1] = v
			}
		}
		return out
	}
	tests := map[string]struct {
		args []string
		want string
	}{
		"no listen":        {with("--listen", ""), "--listen is required"},
		"not loopback":     {with("--listen", "0.0.0.0:8443"), "127.0.0.1"},
		"no password file": {with("--password-file", filepath.Join(dir, "none")), "no such file"},
		"empty password":   {with("--password-file", empty), "is empty"},
		"negative counter": {append(ok, "--counter-start-kwh", "-1"), "negative"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
