package pid1

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Fstab lists file systems the initrd wants mounted, in fstab(5) form:
// bmcinit mounts them once the kernel modules are in and before the network
// comes up. The virtual lab mounts its emulated RAPL counter (a virtio-9p
// share) over /sys/class/powercap this way, so the agent reads it where it
// reads a real one.
const Fstab = "/etc/fstab"

// ErrFstab marks an /etc/fstab line bmcinit cannot use.
var ErrFstab = errors.New("bmcinit: fstab")

// FstabEntry is one file system to mount.
type FstabEntry struct {
	Source, Target, Type string
	Flags                uintptr
	Data                 string // options the file system takes itself
	// NoFail: a failed mount is logged and the boot goes on (the device
	// may not be there, as on lab nodes without the share).
	NoFail bool
}

// mount(8) options that are mount flags rather than file system data.
var fstabFlags = map[string]uintptr{
	"ro": unix.MS_RDONLY, "rw": 0, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV,
	"noexec": unix.MS_NOEXEC, "noatime": unix.MS_NOATIME, "relatime": unix.MS_RELATIME,
	"sync": unix.MS_SYNCHRONOUS, "defaults": 0, "auto": 0,
}

// ParseFstab reads fstab(5) lines: source, target, type and options
// (comma-separated), then the dump and pass fields, which are ignored.
// Blank lines and #comments are skipped, and so are entries marked noauto.
// \040-style octal escapes stand for blanks. A target must be an absolute,
// clean path.
func ParseFstab(r io.Reader) ([]FstabEntry, error) {
	var out []FstabEntry
	err := eachLine(r, ErrFstab, "fstab", func(n int, line string) error {
		e, skip, err := parseFstabLine(line)
		if err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrFstab, n, err)
		}
		if !skip {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parseFstabLine reads one entry; skip says it is marked noauto.
func parseFstabLine(line string) (e FstabEntry, skip bool, err error) {
	f := strings.Fields(line)
	if len(f) < 3 || len(f) > 6 {
		return e, false, fmt.Errorf("want source, target, type [options [dump [pass]]], got %d fields", len(f))
	}
	for i := range min(4, len(f)) {
		if f[i], err = unescapeFstab(f[i]); err != nil {
			return e, false, err
		}
	}
	e = FstabEntry{Source: f[0], Target: f[1], Type: f[2]}
	if !filepath.IsAbs(e.Target) || filepath.Clean(e.Target) != e.Target {
		return e, false, fmt.Errorf("target %q is not an absolute clean path", e.Target)
	}
	if len(f) < 4 {
		return e, false, nil
	}
	var data []string
	for _, o := range strings.Split(f[3], ",") {
		switch fl, ok := fstabFlags[o]; {
		case ok:
			e.Flags |= fl
		case o == "nofail":
			e.NoFail = true
		case o == "noauto":
			skip = true
		case o == "" || strings.HasPrefix(o, "x-"):
			// x-* options are for userspace tools, not the kernel.
		default:
			data = append(data, o)
		}
	}
	e.Data = strings.Join(data, ",")
	return e, skip, nil
}

// unescapeFstab turns fstab's \NNN octal escapes into their bytes.
func unescapeFstab(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		var v uint64
		err := strconv.ErrSyntax
		if i+4 <= len(s) {
			v, err = strconv.ParseUint(s[i+1:i+4], 8, 8)
		}
		if err != nil || v == 0 {
			return "", fmt.Errorf("%q: a backslash must start an octal escape like \\040", s)
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}

// mountFstabFile mounts what the fstab file at path lists; no file, nothing.
func mountFstabFile(log *slog.Logger, path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFstab, err)
	}
	entries, err := ParseFstab(f)
	f.Close()
	if err != nil {
		return err
	}
	return mountFstab(log, entries)
}

// mountFstab mounts the entries in order, making each mount point first.
// A failure stops the boot unless the entry says nofail.
func mountFstab(log *slog.Logger, entries []FstabEntry) error {
	for _, e := range entries {
		// A mount point inside sysfs cannot be made; the mount says why.
		_ = os.MkdirAll(e.Target, 0o755)
		err := unix.Mount(e.Source, e.Target, e.Type, e.Flags, e.Data)
		switch {
		case err == nil:
			log.Info("mounted", "source", e.Source, "target", e.Target, "type", e.Type)
		case e.NoFail:
			log.Info("not mounted (nofail)", "source", e.Source, "target", e.Target, "type", e.Type, "err", err)
		default:
			return fmt.Errorf("%w: mount %s on %s (%s): %w", ErrFstab, e.Source, e.Target, e.Type, err)
		}
	}
	return nil
}
