package pid1

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseFstab(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []FstabEntry
		err  string
	}{
		{"the lab's RAPL share", "# emulated RAPL (scripts/vlab --rapl)\n" +
			"rapl /sys/class/powercap 9p trans=virtio,version=9p2000.L,ro,nofail 0 0\n",
			[]FstabEntry{{Source: "rapl", Target: "/sys/class/powercap", Type: "9p", Flags: unix.MS_RDONLY,
				Data: "trans=virtio,version=9p2000.L", NoFail: true}}, ""},
		{"flags, data, x- options, no options", "tmpfs /run/x tmpfs defaults,nosuid,nodev,noexec,size=1m,x-systemd.automount\n\nproc /p proc\n",
			[]FstabEntry{
				{Source: "tmpfs", Target: "/run/x", Type: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Data: "size=1m"},
				{Source: "proc", Target: "/p", Type: "proc"},
			}, ""},
		{"noauto is skipped", "a /a ext4 noauto\nb /b ext4 rw\n", []FstabEntry{{Source: "b", Target: "/b", Type: "ext4"}}, ""},
		{"octal escapes", `my\040share /mnt/a\040b 9p ro`, []FstabEntry{{Source: "my share", Target: "/mnt/a b", Type: "9p", Flags: unix.MS_RDONLY}}, ""},
		{"too few fields", "rapl /sys/class/powercap\n", nil, "line 1: want source, target, type"},
		{"too many fields", "a /a b c 0 0 x\n", nil, "line 1: want"},
		{"relative target", "# c\nrapl sys/class 9p ro\n", nil, `line 2: target "sys/class" is not an absolute clean path`},
		{"unclean target", "rapl /sys/../etc 9p ro\n", nil, "not an absolute clean path"},
		{"bad escape", `a /a\09 9p`, nil, "octal escape"},
		{"NUL escape", `a /a\000 9p`, nil, "octal escape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFstab(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrFstab) {
					t.Fatalf("err = %v, want ErrFstab with %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("= %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}
}

func FuzzParseFstab(f *testing.F) {
	f.Add("rapl /sys/class/powercap 9p trans=virtio,version=9p2000.L,ro,nofail 0 0\n")
	f.Add(`a\040b /x\011y tmpfs size=1m,noauto`)
	f.Add("# only a comment\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		es, err := ParseFstab(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrFstab) {
				t.Fatalf("error without ErrFstab: %v", err)
			}
			return
		}
		for _, e := range es {
			if !strings.HasPrefix(e.Target, "/") || e.Source == "" || e.Type == "" {
				t.Fatalf("accepted %+v", e)
			}
		}
	})
}
