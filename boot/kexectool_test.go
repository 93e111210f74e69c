package boot

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/klauspost/compress/zstd"
)

// TestKexecToolInAgentArchive: a node arch with KexecTools gets the tool
// after bmcinit in its agent archive, and a changed tool a new initrd.
func TestKexecToolInAgentArchive(t *testing.T) {
	e := newEnv(t)
	tool := filepath.Join(e.dir, "kexec-x86_64")
	write(t, tool, []byte("\x7fELF kexec-tools v1"))
	cfg := e.srv.cfg
	cfg.KexecTools = map[string]string{"x86_64": tool}
	var err error
	if e.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	e.http.Config.Handler = e.srv
	entries := func(job uint64) (map[string]string, string) {
		b := e.prepare(e.req(job, 1, "node1", "52:54:00:12:34:56"))
		_, body := e.get("/a/" + b.InitrdToken + "/initrd.img")
		off := (len(e.initrd) + 3) &^ 3
		zr, err := zstd.NewReader(bytes.NewReader(body[off:]))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		got := map[string]string{}
		r := cpio.NewReader(zr)
		for {
			h, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(r)
			got[h.Name] = string(data)
		}
		return got, b.Initrd.Digest
	}
	got, d1 := entries(70)
	if got["bmcinit"] != string(e.agent) || got["bmc-kexec"] != "\x7fELF kexec-tools v1" || len(got) != 2 {
		t.Fatalf("agent archive entries: %q", keys(got))
	}
	write(t, tool, []byte("\x7fELF kexec-tools v2, longer"))
	got, d2 := entries(71)
	if got["bmc-kexec"] != "\x7fELF kexec-tools v2, longer" || d1 == d2 {
		t.Fatalf("a new tool kept the old initrd (%s, %s): %q", d1, d2, got["bmc-kexec"])
	}

	cfg.KexecTools = map[string]string{"aarch64": tool}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "no agent binary") {
		t.Fatalf("kexec-tools for an arch without agent: %v", err)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
