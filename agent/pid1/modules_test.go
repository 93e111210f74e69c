package pid1

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The lab's x86 NIC modules with the depends= of Debian's 6.1.0-57-amd64.
var labDepends = map[string][]string{
	"virtio_ring.ko": nil, "virtio.ko": {"virtio_ring"},
	"virtio_pci_modern_dev.ko": nil, "virtio_pci_legacy_dev.ko": nil,
	"virtio_pci.ko": {"virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio"},
	"failover.ko":   nil, "net_failover.ko": {"failover"},
	"virtio_net.ko": {"virtio_ring", "virtio", "net_failover"},
	"virtio-rng.ko": {"virtio", "virtio_ring"},
}

func TestModuleWaits(t *testing.T) {
	lab := []string{"virtio_ring.ko", "virtio.ko", "virtio_pci_modern_dev.ko", "virtio_pci_legacy_dev.ko", "virtio_pci.ko",
		"failover.ko", "net_failover.ko", "virtio_net.ko", "virtio-rng.ko"}
	fromTable := func(m string) ([]string, error) { return labDepends[m], nil }
	for _, tc := range []struct {
		name    string
		mods    []string
		depends func(string) ([]string, error)
		want    [][]int
	}{
		{"lab x86", lab, fromTable, [][]int{nil, {0}, nil, nil, {0, 2, 3, 1}, nil, {5}, {0, 1, 6}, {1, 0}}},
		{"unreadable keeps the order", []string{"a.ko", "b.ko.xz", "c.ko"}, func(m string) ([]string, error) {
			if m == "b.ko.xz" {
				return nil, ErrModule
			}
			return nil, nil
		}, [][]int{nil, {0}, nil}},
		// A dependency listed after the module, or not at all, is taken as
		// built in: waiting for a later entry could never end.
		{"later or absent dependency", []string{"x.ko", "y.ko"}, func(m string) ([]string, error) {
			return map[string][]string{"x.ko": {"y", "builtin"}}[m], nil
		}, [][]int{nil, nil}},
		{"dash and underscore are one name", []string{"virtio-rng.ko", "user.ko.zst"}, func(m string) ([]string, error) {
			return map[string][]string{"user.ko.zst": {"virtio_rng"}}[m], nil
		}, [][]int{nil, {0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ModuleWaits(tc.mods, tc.depends); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ModuleWaits = %v, want %v", got, tc.want)
			}
		})
	}
}

// elfWithModinfo writes a minimal ELF64 relocatable file whose only real
// section is .modinfo, the way a kernel module carries its metadata.
func elfWithModinfo(t *testing.T, modinfo string) string {
	t.Helper()
	shstr := "\x00.modinfo\x00.shstrtab\x00"
	const ehsize, shentsize = 64, 64
	infoOff := ehsize
	strOff := infoOff + len(modinfo)
	shOff := (strOff + len(shstr) + 7) &^ 7
	var b bytes.Buffer
	hdr := elf.Header64{Type: uint16(elf.ET_REL), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: uint64(shOff), Ehsize: ehsize, Shentsize: shentsize, Shnum: 3, Shstrndx: 2}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS], hdr.Ident[elf.EI_DATA], hdr.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	binary.Write(&b, binary.LittleEndian, hdr)
	b.WriteString(modinfo)
	b.WriteString(shstr)
	b.Write(make([]byte, shOff-b.Len()))
	for _, sh := range []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC), Off: uint64(infoOff), Size: uint64(len(modinfo)), Addralign: 1},
		{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: uint64(strOff), Size: uint64(len(shstr)), Addralign: 1},
	} {
		binary.Write(&b, binary.LittleEndian, sh)
	}
	p := filepath.Join(t.TempDir(), "mod.ko")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestModuleDepends(t *testing.T) {
	p := elfWithModinfo(t, "license=GPL\x00depends=net_failover,virtio,virtio_ring\x00retpoline=Y\x00name=virtio_net\x00")
	got, err := moduleDepends(p)
	if err != nil || !reflect.DeepEqual(got, []string{"net_failover", "virtio", "virtio_ring"}) {
		t.Fatalf("moduleDepends = %v, %v", got, err)
	}
	if got, err := moduleDepends(elfWithModinfo(t, "depends=\x00name=virtio\x00")); err != nil || got != nil {
		t.Fatalf("no dependencies: %v, %v", got, err)
	}
	notELF := filepath.Join(t.TempDir(), "bad.ko")
	os.WriteFile(notELF, []byte("not an ELF file"), 0o644)
	if _, err := moduleDepends(notELF); !errors.Is(err, ErrModule) {
		t.Fatalf("not ELF: %v", err)
	}
	if _, err := moduleDepends("virtio.ko.xz"); !errors.Is(err, ErrModule) {
		t.Fatalf("compressed: %v", err)
	}
}

func FuzzParseModinfoDepends(f *testing.F) {
	f.Add([]byte("depends=a,b\x00name=c\x00"))
	f.Add([]byte("depends=\x00"))
	f.Add([]byte("xdepends=a\x00depends=,b,\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range ParseModinfoDepends(data) {
			if d == "" || strings.ContainsAny(d, ",\x00") || strings.TrimSpace(d) != d {
				t.Fatalf("dependency %q from %q", d, data)
			}
		}
	})
}
