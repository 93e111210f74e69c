package pid1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrModule means a kernel module could not be loaded.
var ErrModule = errors.New("bmcinit: module")

// ParseModulesOrder reads /etc/modules.order: one module file name per line
// (relative to /lib/modules), blank lines and #comments ignored. Names that
// try to leave /lib/modules are refused.
func ParseModulesOrder(r io.Reader) ([]string, error) {
	var mods []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		clean := filepath.Clean(line)
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || strings.ContainsRune(line, 0) {
			return nil, fmt.Errorf("%w: modules.order line %d: %q leaves /lib/modules", ErrModule, n, line)
		}
		if !strings.HasSuffix(clean, ".ko") && !strings.HasSuffix(clean, ".ko.xz") && !strings.HasSuffix(clean, ".ko.zst") && !strings.HasSuffix(clean, ".ko.gz") {
			return nil, fmt.Errorf("%w: modules.order line %d: %q is not a .ko file", ErrModule, n, line)
		}
		mods = append(mods, clean)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: read modules.order: %w", ErrModule, err)
	}
	return mods, nil
}

// loadModule inserts one module with finit_module(2). Compressed modules are
// handed to the kernel to decompress (Linux 5.17+, CONFIG_MODULE_DECOMPRESS);
// an older kernel's refusal is reported as such.
func loadModule(dir, name string) error {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrModule, err)
	}
	defer f.Close()
	flags := 0
	if !strings.HasSuffix(name, ".ko") {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	err = unix.FinitModule(int(f.Fd()), "", flags)
	switch {
	case err == nil, errors.Is(err, unix.EEXIST):
		return nil
	case flags != 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)):
		return fmt.Errorf("%w: %s: the kernel cannot decompress modules; ship plain .ko: %w", ErrModule, name, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrModule, name, err)
}

// loadModules loads the list in order; a failing module is logged and the
// rest still tried, as a missing NIC shows up clearly a step later.
func loadModules(log *slog.Logger, dir string, mods []string) int {
	loaded := 0
	for _, m := range mods {
		if err := loadModule(dir, m); err != nil {
			log.Warn("module not loaded", "module", m, "err", err)
			continue
		}
		loaded++
		log.Info("module loaded", "module", m)
	}
	return loaded
}
