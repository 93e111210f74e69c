package pid1

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrModule means a kernel module could not be loaded.
var ErrModule = errors.New("bmcinit: module")

// ParseModulesOrder reads /etc/modules.order: one module file name per line
// (relative to /lib/modules), blank lines and #comments ignored. Names that
// try to leave /lib/modules are refused.
func ParseModulesOrder(r io.Reader) ([]string, error) {
	var mods []string
	err := eachLine(r, ErrModule, "modules.order", func(n int, line string) error {
		clean := filepath.Clean(line)
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || strings.ContainsRune(line, 0) {
			return fmt.Errorf("%w: modules.order line %d: %q leaves /lib/modules", ErrModule, n, line)
		}
		if !strings.HasSuffix(clean, ".ko") && !strings.HasSuffix(clean, ".ko.xz") && !strings.HasSuffix(clean, ".ko.zst") && !strings.HasSuffix(clean, ".ko.gz") {
			return fmt.Errorf("%w: modules.order line %d: %q is not a .ko file", ErrModule, n, line)
		}
		mods = append(mods, clean)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return mods, nil
}

// eachLine calls f with each line of a config file the initrd holds, and
// its number, trimmed; blank lines and #comments are skipped. f's errors
// come back as they are, a read error wrapped in kind with the file's name.
func eachLine(r io.Reader, kind error, name string, f func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := f(n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: read %s: %w", kind, name, err)
	}
	return nil
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

// loadModules loads the list, each module as soon as the modules it
// depends on (its .modinfo "depends=") are in, so independent ones load
// side by side: probing a device sleeps (virtio_pci waits for each device's
// reset), and another module's load fills that wait. A module whose
// dependencies cannot be read waits for every module listed before it, as
// with strictly ordered loading. A failing module is logged and the rest
// still tried, as a missing NIC shows up clearly a step later.
func loadModules(log *slog.Logger, dir string, mods []string) int {
	done := make([]chan struct{}, len(mods))
	for i := range done {
		done[i] = make(chan struct{})
	}
	after := ModuleWaits(mods, func(name string) ([]string, error) { return moduleDepends(filepath.Join(dir, name)) })
	var loaded atomic.Int32
	var wg sync.WaitGroup
	for i, m := range mods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[i])
			for _, j := range after[i] {
				<-done[j]
			}
			if err := loadModule(dir, m); err != nil {
				log.Warn("module not loaded", "module", m, "err", err)
				return
			}
			loaded.Add(1)
			log.Info("module loaded", "module", m)
		}()
	}
	wg.Wait()
	return int(loaded.Load())
}

// ModuleWaits says, for each module of the list, which earlier entries it
// must wait for: those its dependencies name, or all earlier ones when
// depends fails for it. Dependencies not listed before it are taken as
// built in (or already loaded); if they are not, its load fails and says so.
func ModuleWaits(mods []string, depends func(file string) ([]string, error)) [][]int {
	index := make(map[string]int, len(mods))
	waits := make([][]int, len(mods))
	for i, m := range mods {
		deps, err := depends(m)
		if err != nil {
			for j := 0; j < i; j++ {
				waits[i] = append(waits[i], j)
			}
		}
		for _, d := range deps {
			if j, ok := index[ModuleName(d)]; ok {
				waits[i] = append(waits[i], j)
			}
		}
		index[ModuleName(m)] = i
	}
	return waits
}

// ModuleName is the kernel's name for a module file or a depends= entry:
// the base name without .ko and compression suffix, '-' read as '_'.
func ModuleName(file string) string {
	n := filepath.Base(file)
	if i := strings.Index(n, ".ko"); i >= 0 {
		n = n[:i]
	}
	return strings.ReplaceAll(n, "-", "_")
}

// moduleDepends reads a plain .ko's dependencies from its .modinfo
// section. Compressed modules are not opened: their order in the list is
// kept instead.
func moduleDepends(path string) ([]string, error) {
	if !strings.HasSuffix(path, ".ko") {
		return nil, fmt.Errorf("%w: %s: compressed, order kept", ErrModule, path)
	}
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModule, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%w: %s has no .modinfo", ErrModule, path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrModule, path, err)
	}
	return ParseModinfoDepends(data), nil
}

// ParseModinfoDepends finds "depends=a,b" among a .modinfo section's
// NUL-separated key=value strings.
func ParseModinfoDepends(modinfo []byte) []string {
	for _, kv := range strings.Split(string(modinfo), "\x00") {
		v, ok := strings.CutPrefix(kv, "depends=")
		if !ok {
			continue
		}
		var deps []string
		for _, d := range strings.Split(v, ",") {
			if d = strings.TrimSpace(d); d != "" {
				deps = append(deps, d)
			}
		}
		return deps
	}
	return nil
}
