package agent

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUnsafePath means a tar entry tried to reach outside the extraction root,
// by "..", or through a symlink or a non-directory on its way.
var ErrUnsafePath = errors.New("agent: unsafe path in archive")

// ExtractOptions says what the extractor may do beyond creating files.
type ExtractOptions struct {
	// Chown applies the entries' uid/gid (needs root).
	Chown bool
	// Devices creates character and block devices with mknod (needs root);
	// without it they are skipped, as bmcinit mounts devtmpfs over /dev anyway.
	Devices bool
	// MaxBytes caps the file content written (0: no cap). archive/tar
	// expands sparse entries, so a few hundred bytes of archive can declare
	// terabytes of zeros; the content of a plain tar never exceeds its size.
	MaxBytes int64
}

// ErrTooLarge means the archive's content exceeds ExtractOptions.MaxBytes.
var ErrTooLarge = errors.New("agent: archive content over its budget")

// ExtractStats counts what an extraction created.
type ExtractStats struct {
	Files, Dirs, Symlinks, Hardlinks, Devices, Skipped int
	Bytes                                              int64
}

// Extract unpacks a tar stream under root, which must be an existing
// directory. It never follows a symlink while creating an entry: every parent
// directory is opened component by component with O_NOFOLLOW, an existing
// non-directory in the way is replaced rather than written through, and
// hard links may only point at entries already inside root. Names with ".."
// are refused; absolute names are taken relative to root, as GNU tar does.
func Extract(r io.Reader, root string, opt ExtractOptions) (ExtractStats, error) {
	var st ExtractStats
	rootFD, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return st, fmt.Errorf("agent: open extraction root %s: %w", root, err)
	}
	defer unix.Close(rootFD)

	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("agent: read tar: %w", err)
		}
		if err := extractEntry(rootFD, tr, hdr, opt, &st); err != nil {
			return st, fmt.Errorf("agent: extract %q: %w", hdr.Name, err)
		}
	}
}

// cleanName turns an archive name into a slash-separated path relative to
// the root ("" for the root itself).
func cleanName(name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", ErrUnsafePath
		}
	}
	if strings.ContainsRune(name, 0) {
		return "", ErrUnsafePath
	}
	p := strings.TrimPrefix(path.Clean("/"+name), "/")
	return p, nil
}

func extractEntry(rootFD int, tr *tar.Reader, hdr *tar.Header, opt ExtractOptions, st *ExtractStats) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
		return nil // consumed by archive/tar already
	}
	if name == "" {
		st.Skipped++ // "./": the root keeps the mode the caller gave it
		return nil
	}
	dir, base := path.Split(name)
	dirFD, err := openDirNoFollow(rootFD, dir, true)
	if err != nil {
		return err
	}
	defer unix.Close(dirFD)
	mode := uint32(hdr.Mode) & 0o7777

	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := makeDir(dirFD, base); err != nil {
			return err
		}
		fd, err := unix.Openat(dirFD, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return noFollowErr(err)
		}
		defer unix.Close(fd)
		if err := chownFD(fd, hdr, opt); err != nil {
			return err
		}
		if err := unix.Fchmod(fd, mode); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
		st.Dirs++
	case tar.TypeReg: // archive/tar maps the old TypeRegA to TypeReg
		if err := removeExisting(dirFD, base); err != nil {
			return err
		}
		fd, err := unix.Openat(dirFD, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		f := os.NewFile(uintptr(fd), base)
		var src io.Reader = tr
		if opt.MaxBytes > 0 {
			src = io.LimitReader(tr, opt.MaxBytes-st.Bytes+1)
		}
		n, err := io.Copy(f, src)
		if err == nil && opt.MaxBytes > 0 && st.Bytes+n > opt.MaxBytes {
			err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, opt.MaxBytes)
		}
		if err == nil {
			err = chownFD(fd, hdr, opt)
		}
		if err == nil {
			// After chown: chown clears setuid/setgid bits.
			err = f.Chmod(os.FileMode(mode&0o777) | unixModeBits(mode))
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		setTimes(dirFD, base, hdr)
		st.Files++
		st.Bytes += n
	case tar.TypeSymlink:
		if err := removeExisting(dirFD, base); err != nil {
			return err
		}
		if hdr.Linkname == "" || strings.ContainsRune(hdr.Linkname, 0) {
			return fmt.Errorf("symlink target %q: %w", hdr.Linkname, ErrUnsafePath)
		}
		if err := unix.Symlinkat(hdr.Linkname, dirFD, base); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		if opt.Chown {
			if err := unix.Fchownat(dirFD, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("lchown: %w", err)
			}
		}
		setTimes(dirFD, base, hdr)
		st.Symlinks++
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil || target == "" {
			return fmt.Errorf("hard link to %q: %w", hdr.Linkname, ErrUnsafePath)
		}
		tdir, tbase := path.Split(target)
		tdirFD, err := openDirNoFollow(rootFD, tdir, false)
		if err != nil {
			return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
		}
		defer unix.Close(tdirFD)
		var ts unix.Stat_t
		if err := unix.Fstatat(tdirFD, tbase, &ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
		}
		if ts.Mode&unix.S_IFMT == unix.S_IFDIR {
			return fmt.Errorf("hard link to directory %q: %w", hdr.Linkname, ErrUnsafePath)
		}
		if err := removeExisting(dirFD, base); err != nil {
			return err
		}
		// flags 0: a symlink source is linked itself, never dereferenced.
		if err := unix.Linkat(tdirFD, tbase, dirFD, base, 0); err != nil {
			return fmt.Errorf("link: %w", err)
		}
		st.Hardlinks++
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		if kind != unix.S_IFIFO && !opt.Devices {
			st.Skipped++
			return nil
		}
		if err := removeExisting(dirFD, base); err != nil {
			return err
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := unix.Mknodat(dirFD, base, kind|(mode&0o777), dev); err != nil {
			return fmt.Errorf("mknod: %w", err)
		}
		if opt.Chown {
			if err := unix.Fchownat(dirFD, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("chown: %w", err)
			}
		}
		if err := unix.Fchmodat(dirFD, base, mode&0o7777, 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
		st.Devices++
	default:
		st.Skipped++ // sparse files, multi-volume parts: not in a flattened image
	}
	return nil
}

// unixModeBits maps setuid/setgid/sticky to os.FileMode bits.
func unixModeBits(mode uint32) os.FileMode {
	var m os.FileMode
	if mode&unix.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if mode&unix.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if mode&unix.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}

func chownFD(fd int, hdr *tar.Header, opt ExtractOptions) error {
	if !opt.Chown {
		return nil
	}
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}

// setTimes is best effort: a wrong mtime breaks nothing a job relies on.
func setTimes(dirFD int, base string, hdr *tar.Header) {
	if hdr.ModTime.IsZero() {
		return
	}
	ts := unix.NsecToTimespec(hdr.ModTime.UnixNano())
	_ = unix.UtimesNanoAt(dirFD, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// makeDir creates a directory, replacing a non-directory of the same name.
func makeDir(dirFD int, base string) error {
	err := unix.Mkdirat(dirFD, base, 0o755)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("mkdir: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirFD, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return nil
	}
	if err := unix.Unlinkat(dirFD, base, 0); err != nil {
		return fmt.Errorf("replace %s: %w", base, err)
	}
	if err := unix.Mkdirat(dirFD, base, 0o755); err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	return nil
}

// removeExisting makes room for a new non-directory entry, so that a later
// entry replaces an earlier one instead of writing through it.
func removeExisting(dirFD int, base string) error {
	err := unix.Unlinkat(dirFD, base, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if errors.Is(err, unix.EISDIR) {
		if err := unix.Unlinkat(dirFD, base, unix.AT_REMOVEDIR); err != nil {
			return fmt.Errorf("replace directory %s: %w", base, err)
		}
		return nil
	}
	return fmt.Errorf("replace %s: %w", base, err)
}

// openDirNoFollow opens dir (relative, slash-separated) beneath rootFD one
// component at a time, refusing symlinks and non-directories; with create it
// makes missing directories (0755) on the way.
func openDirNoFollow(rootFD int, dir string, create bool) (int, error) {
	fd, err := unix.Dup(rootFD)
	if err != nil {
		return -1, fmt.Errorf("dup: %w", err)
	}
	for _, c := range strings.Split(dir, "/") {
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			unix.Close(fd)
			return -1, ErrUnsafePath
		}
		if create {
			if err := unix.Mkdirat(fd, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(fd)
				return -1, fmt.Errorf("mkdir %s: %w", c, err)
			}
		}
		next, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("%s: %w", c, noFollowErr(err))
		}
		fd = next
	}
	return fd, nil
}

func noFollowErr(err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("%w: %w", ErrUnsafePath, err)
	}
	return err
}

// WriteFileInRoot writes name (relative to root) without following any
// symlink on the way, replacing whatever was there. bmcinit uses it to put
// resolv.conf and hostname into an image it does not trust.
func WriteFileInRoot(root, name string, data []byte, mode uint32) error {
	clean, err := cleanName(name)
	if err != nil || clean == "" {
		return fmt.Errorf("agent: write %q: %w", name, ErrUnsafePath)
	}
	rootFD, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("agent: open %s: %w", root, err)
	}
	defer unix.Close(rootFD)
	dir, base := path.Split(clean)
	dirFD, err := openDirNoFollow(rootFD, dir, true)
	if err != nil {
		return fmt.Errorf("agent: write %q: %w", name, err)
	}
	defer unix.Close(dirFD)
	if err := removeExisting(dirFD, base); err != nil {
		return fmt.Errorf("agent: write %q: %w", name, err)
	}
	fd, err := unix.Openat(dirFD, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return fmt.Errorf("agent: write %q: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), base)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(os.FileMode(mode & 0o777))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("agent: write %q: %w", name, err)
	}
	return nil
}

// MkdirInRoot creates dir (relative to root) and its parents without
// following symlinks, for mount points inside an untrusted image.
func MkdirInRoot(root, dir string) error {
	clean, err := cleanName(dir)
	if err != nil {
		return fmt.Errorf("agent: mkdir %q: %w", dir, err)
	}
	rootFD, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("agent: open %s: %w", root, err)
	}
	defer unix.Close(rootFD)
	fd, err := openDirNoFollow(rootFD, clean, true)
	if err != nil {
		return fmt.Errorf("agent: mkdir %q: %w", dir, err)
	}
	return unix.Close(fd)
}
