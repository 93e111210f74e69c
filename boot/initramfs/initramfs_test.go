package initramfs

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/klauspost/compress/zstd"
)

// oldArchive is a stand-in for a job's initrd: a real newc archive.
func oldArchive(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	w := cpio.NewWriter(&b)
	body := "#!/bin/sh\necho old init\n"
	if err := w.WriteHeader(&cpio.Header{Name: "init", Mode: cpio.TypeReg | 0o755, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, body)
	w.Close()
	return b.Bytes()
}

func TestAppend(t *testing.T) {
	agent := []byte("\x7fELF fake agent binary")
	tests := []struct {
		name   string
		initrd []byte
	}{
		{"no initrd", nil},
		{"cpio initrd", oldArchive(t)},
		{"unaligned (compressed) initrd", []byte("\x1f\x8b\x08 pretend gzip")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Append(&out, bytes.NewReader(tt.initrd), bytes.NewReader(agent), int64(len(agent))); err != nil {
				t.Fatal(err)
			}
			got := out.Bytes()
			if !bytes.HasPrefix(got, tt.initrd) {
				t.Fatal("original initrd bytes not kept at the front")
			}
			off := (len(tt.initrd) + 3) &^ 3
			if !bytes.Equal(got[len(tt.initrd):off], make([]byte, off-len(tt.initrd))) {
				t.Fatal("padding is not zeros")
			}
			// The kernel recognises each archive by its magic: zstd's here.
			if !bytes.HasPrefix(got[off:], []byte{0x28, 0xb5, 0x2f, 0xfd}) {
				t.Fatalf("no zstd frame at %d: %x", off, got[off:off+4])
			}
			zr, err := zstd.NewReader(bytes.NewReader(got[off:]))
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			raw, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("zstd: %v", err)
			}
			if !bytes.HasPrefix(raw, []byte("070701")) {
				t.Fatalf("no newc header in the frame: %q", raw[:6])
			}
			r := cpio.NewReader(bytes.NewReader(raw))
			hdr, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(r)
			if hdr.Name != "bmcinit" || hdr.Mode.Perm() != 0o755 || !hdr.Mode.IsRegular() || !bytes.Equal(body, agent) {
				t.Fatalf("entry %q mode %o body %q", hdr.Name, hdr.Mode, body)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("after agent: %v, want EOF (trailer)", err)
			}
		})
	}
}

// TestAppendReproducible: the same inputs give the same bytes, so the
// assembled initrd's digest (and cache key) is stable.
func TestAppendReproducible(t *testing.T) {
	agent := bytes.Repeat([]byte("agent code "), 100000)
	var a, b bytes.Buffer
	for _, out := range []*bytes.Buffer{&a, &b} {
		if err := Append(out, bytes.NewReader(oldArchive(t)), bytes.NewReader(agent), int64(len(agent))); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two runs differ")
	}
	if a.Len() > len(agent)/10 {
		t.Fatalf("%d bytes of repetitive agent became %d: not compressed", len(agent), a.Len())
	}
}

func TestAppendShortAgent(t *testing.T) {
	err := Append(io.Discard, strings.NewReader(""), strings.NewReader("abc"), 10)
	if err == nil {
		t.Fatal("short agent accepted")
	}
}

// TestAppendKexecTool: an extra executable follows the agent in the same
// archive; a short one is an error.
func TestAppendKexecTool(t *testing.T) {
	agent, tool := []byte("agent"), []byte("\x7fELF kexec")
	var out bytes.Buffer
	if err := Append(&out, strings.NewReader(""), bytes.NewReader(agent), int64(len(agent)),
		File{Path: KexecPath, Size: int64(len(tool)), Data: bytes.NewReader(tool)}); err != nil {
		t.Fatal(err)
	}
	zr, err := zstd.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	r := cpio.NewReader(zr)
	for _, want := range []struct {
		name string
		body []byte
	}{{"bmcinit", agent}, {"bmc-kexec", tool}} {
		hdr, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r)
		if hdr.Name != want.name || hdr.Mode.Perm() != 0o755 || !bytes.Equal(body, want.body) {
			t.Fatalf("entry %q mode %o body %q, want %q", hdr.Name, hdr.Mode, body, want.name)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the tool: %v, want EOF", err)
	}
	err = Append(io.Discard, strings.NewReader(""), bytes.NewReader(agent), int64(len(agent)),
		File{Path: KexecPath, Size: 100, Data: bytes.NewReader(tool)})
	if err == nil || !strings.Contains(err.Error(), "/bmc-kexec") {
		t.Fatalf("short tool: %v", err)
	}
}
