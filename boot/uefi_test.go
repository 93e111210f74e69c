package boot

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// uefiEnv is newEnv's server rebuilt with an aarch64 agent, a GRUB image
// and per-architecture default kernels, as the lab runs it.
func uefiEnv(t *testing.T, mod func(*Config)) (*env, []byte) {
	t.Helper()
	e := newEnv(t)
	grub := []byte("MZ\x00\x00 pretend GRUB arm64-efi image")
	write(t, filepath.Join(e.dir, "grubaa64.efi"), grub)
	write(t, filepath.Join(e.kdir, "vmlinux-arm64"), []byte("ARM64 uncompressed Image"))
	write(t, filepath.Join(e.dir, "bmcinit-arm64"), e.agent)
	cat, err := ParseCatalog([]byte(`
[[kernel]]
name = "lab-arm64"
kernel = "kernels/vmlinux-arm64"
initrd = "kernels/initrd-6.1.img"
cmdline = "console=ttyAMA0"
arch = "aarch64"

[[kernel]]
name = "x86-only"
kernel = "kernels/vmlinuz-6.1"
arch = "x86_64"
`), e.dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.srv.cfg
	cfg.Catalog = cat
	cfg.CacheDir = filepath.Join(e.dir, "cache-uefi")
	cfg.AgentBinaries = map[string]string{
		"x86_64":  filepath.Join(e.dir, "bmcinit-amd64"),
		"aarch64": filepath.Join(e.dir, "bmcinit-arm64"),
	}
	cfg.GrubEFI = filepath.Join(e.dir, "grubaa64.efi")
	cfg.ArchDefaults = map[string]string{"aarch64": "lab-arm64"}
	if mod != nil {
		mod(&cfg)
	}
	if e.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	e.http.Close()
	e.http = httptest.NewServer(e.srv)
	t.Cleanup(e.http.Close)
	return e, grub
}

func TestGrubEFIServed(t *testing.T) {
	e, grub := uefiEnv(t, nil)
	resp, err := http.Get(e.http.URL + GRUBEFIPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := make([]byte, len(grub)+1)
	n, _ := resp.Body.Read(body)
	if resp.StatusCode != 200 || string(body[:n]) != string(grub) {
		t.Fatalf("GET %s: %d %q, want the image", GRUBEFIPath, resp.StatusCode, body[:n])
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/efi" {
		t.Errorf("Content-Type %q, want application/efi (UEFI HTTP Boot checks it)", ct)
	}
	// No token is needed, and none is spent: any machine may ask again.
	if code, body := e.get(GRUBEFIPath); code != 200 || string(body) != string(grub) {
		t.Fatalf("second GET: %d", code)
	}
	if code, _ := e.do("POST", GRUBEFIPath, "", strings.NewReader("x")); code == 200 {
		t.Errorf("POST %s answered 200", GRUBEFIPath)
	}
}

func TestGrubEFINotConfigured(t *testing.T) {
	e := newEnv(t)
	if code, _ := e.get(GRUBEFIPath); code != http.StatusNotFound {
		t.Fatalf("GET %s without a GRUB image: %d, want 404", GRUBEFIPath, code)
	}
}

func TestArchDefaultKernel(t *testing.T) {
	e, _ := uefiEnv(t, nil)
	// An arm machine whose job names no kernel boots the arm default through GRUB.
	r := e.req(70, 1, "varm1", "52:54:00:00:01:01")
	r.Arch, r.Kernel, r.Loader = "aarch64", "", LoaderGRUB
	r.Image = e.armOnly
	b := e.prepare(r)
	if b.KernelName != "lab-arm64" {
		t.Errorf("KernelName = %q, want the arm default lab-arm64", b.KernelName)
	}
	code, body := e.get("/grub.cfg-52:54:00:00:01:01")
	if code != 200 {
		t.Fatalf("grub.cfg: %d", code)
	}
	masked := strings.NewReplacer(b.KernelToken, "KERNEL-TOKEN", b.InitrdToken, "INITRD-TOKEN", b.AgentToken, "AGENT-TOKEN").Replace(string(body))
	golden(t, "arm-default.grub", []byte(masked))
	if _, k := e.get("/a/" + b.KernelToken + "/vmlinuz"); string(k) != "ARM64 uncompressed Image" {
		t.Errorf("kernel served %q", k)
	}
	// An x86 machine still gets the cluster default.
	r = e.req(71, 1, "vnode1", "52:54:00:00:00:01")
	r.Kernel = ""
	if b := e.prepare(r); b.KernelName != "default" || !strings.HasPrefix(b.Cmdline, "console=ttyS0,115200") {
		t.Errorf("x86 job without a kernel: %q %q, want the cluster default", b.KernelName, b.Cmdline)
	}
}

func TestArchDefaultKernelErrors(t *testing.T) {
	tests := []struct {
		name  string
		def   string
		want  error
		msg   string
		onNew bool
	}{
		{"not in catalog", "nope", ErrUnknownKernel, `the default kernel for aarch64, "nope", is not in the kernel catalog`, false},
		{"wrong arch", "x86-only", ErrArch, "x86-only, is for x86_64", false},
		{"not a name", "../vmlinuz", nil, "is not a catalog name", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.onNew {
				e := newEnv(t)
				cfg := e.srv.cfg
				cfg.CacheDir = filepath.Join(e.dir, "cache2")
				cfg.ArchDefaults = map[string]string{"aarch64": tt.def}
				if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("New: %v, want %q", err, tt.msg)
				}
				return
			}
			e, _ := uefiEnv(t, func(c *Config) { c.ArchDefaults = map[string]string{"aarch64": tt.def} })
			r := e.req(80, 1, "varm1", "52:54:00:00:01:01")
			r.Arch, r.Kernel, r.Loader, r.Image = "aarch64", "", LoaderGRUB, e.armOnly
			_, err := e.srv.Prepare(context.Background(), r)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestNewRefusesBadUEFIConfig(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config, string)
		msg  string
	}{
		{"missing GRUB image", func(c *Config, d string) { c.GrubEFI = filepath.Join(d, "none.efi") }, "is not a file"},
		{"GRUB image is a directory", func(c *Config, d string) { c.GrubEFI = d }, "is not a file"},
		{"unknown arch", func(c *Config, _ string) { c.ArchDefaults = map[string]string{"sparc": "x"} }, "default kernel for sparc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			cfg := e.srv.cfg
			cfg.CacheDir = filepath.Join(e.dir, "cache2")
			tt.mod(&cfg, e.dir)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("New: %v, want %q", err, tt.msg)
			}
		})
	}
}
