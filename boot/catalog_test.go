package boot

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadCatalog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kernels.toml")
	os.WriteFile(path, []byte(`
[[kernel]]
name = "debian-6.1"
kernel = "vmlinuz-6.1"
initrd = "/srv/k/initrd-6.1.img"
cmdline = "console=ttyS0,115200 quiet"
arch = "x86_64"
description = "Debian 12 stock kernel"

[[kernel]]
name = "arm-url"
kernel = "http://127.0.0.1:9/vmlinuz"
arch = "aarch64"
`), 0o644)
	c, err := LoadCatalog(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Kernel{
		{Name: "debian-6.1", Kernel: filepath.Join(dir, "vmlinuz-6.1"), Initrd: "/srv/k/initrd-6.1.img", Cmdline: "console=ttyS0,115200 quiet", Arch: "x86_64", Description: "Debian 12 stock kernel"},
		{Name: "arm-url", Kernel: "http://127.0.0.1:9/vmlinuz", Arch: "aarch64"},
	}
	if got := c.List(); !reflect.DeepEqual(got, want) {
		t.Fatalf("List() = %+v", got)
	}
	if k, ok := c.Lookup("arm-url"); !ok || k.Arch != "aarch64" {
		t.Fatalf("Lookup = %+v %v", k, ok)
	}
	if _, ok := c.Lookup("nope"); ok {
		t.Fatal("found a kernel that is not there")
	}
}

func TestParseCatalogErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"syntax", "[[kernel]]\nname = \n", "line 2: "},
		{"unknown key", "[[kernel]]\nname = \"a\"\nkernel = \"/k\"\nkernal = \"/x\"\n", "line 4: kernel.kernal: unknown key"},
		{"bad name", "[[kernel]]\nname = \"/a\"\nkernel = \"/k\"\n", "line 2: kernel.name: \"/a\""},
		{"dup name", "[[kernel]]\nname = \"a\"\nkernel = \"/k\"\n[[kernel]]\nname = \"a\"\nkernel = \"/k\"\n", "line 5: kernel.name: \"a\" defined twice"},
		{"no kernel", "[[kernel]]\nname = \"a\"\n", "kernel.kernel: missing"},
		{"bad arch", "[[kernel]]\nname = \"a\"\nkernel = \"/k\"\narch = \"sparc\"\n", "line 4: kernel.arch"},
		{"bad cmdline", "[[kernel]]\nname = \"a\"\nkernel = \"/k\"\ncmdline = \"x ${y}\"\n", "line 4: kernel.cmdline: bad kernel command line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCatalog([]byte(tt.doc), "/base")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func FuzzParseCatalog(f *testing.F) {
	f.Add("[[kernel]]\nname = \"a\"\nkernel = \"k\"\ncmdline = \"console=ttyS0\"\n")
	f.Add("[[kernel]]\nname = \"b\"\nkernel = \"http://x/k\"\narch = \"aarch64\"\n")
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := ParseCatalog([]byte(doc), "/base")
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		names := map[string]bool{}
		for _, k := range c.List() {
			if names[k.Name] || !kernelName.MatchString(k.Name) {
				t.Fatalf("bad or duplicate name %q", k.Name)
			}
			names[k.Name] = true
			if !isURL(k.Kernel) && !filepath.IsAbs(k.Kernel) {
				t.Fatalf("kernel %q neither URL nor absolute", k.Kernel)
			}
			if err := ValidateCmdline(k.Cmdline); err != nil {
				t.Fatalf("accepted bad cmdline: %v", err)
			}
		}
	})
}

func TestValidateCmdline(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", nil},
		{"console=ttyS0,115200n8 quiet loglevel=7 ip=10.0.2.15::10.0.2.2:255.255.255.0 earlycon=pl011,0x9000000", nil},
		{"mitigations=off root=/dev/ram0 foo.bar=a+b@c%d~e", nil},
		{"x ${net0/mac}", ErrCmdline},
		{"x\nchain http://evil/", ErrCmdline},
		{"x\r", ErrCmdline},
		{"x #comment", ErrCmdline},
		{"a || shell", ErrCmdline},
		{"a && b", ErrCmdline},
		{"a; b", ErrCmdline},
		{`a="b c"`, ErrCmdline},
		{`a\b`, ErrCmdline},
		{"é", ErrCmdline},
		{"rdinit=/bin/sh", ErrCmdline},
		{"initrd=other.img", ErrCmdline},
		{"bmc.url=http://evil", ErrCmdline},
		{"bmc.token=x", ErrCmdline},
		{"bmc.anything", ErrCmdline},
		{"quiet -- rdinit=/bin/sh", ErrCmdline},
		{strings.Repeat("a", MaxCmdline+1), ErrCmdline},
		{"init=/bin/sh", nil}, // rdinit wins while /bmcinit exists; init= is the job's business
	}
	for _, tt := range tests {
		err := ValidateCmdline(tt.in)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("ValidateCmdline(%q) = %v, want %v", tt.in, err, tt.want)
		}
	}
}
