package vlabmeter

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// raplFiles publishes one node's RAPL counter: the zone's files in the share
// the guest mounts, the package's truth beside the node's other files, and
// whatever forgery a job wrote into the share.
type raplFiles struct {
	node     string
	counter  *RAPL
	zone     string // RAPLConfig.Dir/intel-rapl:0
	forge    string // RAPLConfig.Dir/forge
	truth    string // the node's package_joules
	shown    string // energy_uj's content, rewritten only on change
	frozen   *uint64
	forgeErr string // the last bad forge file, logged once
	log      *slog.Logger
}

// openRAPL writes the zone's fixed files and resumes the counter and the
// truth from an earlier meter run's files.
func openRAPL(n NodeConfig, log *slog.Logger) (*raplFiles, error) {
	c := *n.RAPL
	f := &raplFiles{node: n.Name, zone: filepath.Join(c.Dir, RAPLZone), forge: filepath.Join(c.Dir, ForgeFile),
		truth: filepath.Join(n.Dir, RAPLTruth), log: log}
	if err := os.MkdirAll(f.zone, 0o755); err != nil {
		return nil, err
	}
	for name, v := range map[string]string{RAPLName: "package-0", RAPLRange: strconv.FormatUint(c.MaxEnergyRangeUJ, 10)} {
		if err := writeAtomic(filepath.Join(f.zone, name), v+"\n"); err != nil {
			return nil, err
		}
	}
	j, err := readJoules(f.truth)
	if err != nil {
		return nil, err
	}
	uj := c.StartUJ
	if b, err := os.ReadFile(filepath.Join(f.zone, RAPLEnergy)); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			uj = v
		}
	}
	f.counter = NewRAPL(c, uj, j)
	log.Info("emulating RAPL", "node", n.Name, "dir", c.Dir, "idle_watts", c.IdleWatts, "dynamic_watts", c.DynamicWatts,
		"max_energy_range_uj", c.MaxEnergyRangeUJ, "energy_uj", uj)
	return f, nil
}

// step advances the counter to t and publishes it. A power-on starts a new
// machine: a forgery left by the last job is dropped with it.
func (f *raplFiles) step(t time.Time, running bool, pid int, use float64) error {
	_, on := f.counter.Add(t, running, pid, use)
	var errs []error
	if on {
		f.frozen = nil
		if err := os.Remove(f.forge); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := writeAtomic(f.truth, strconv.FormatFloat(f.counter.Joules(), 'f', 3, 64)+"\n"); err != nil {
		errs = append(errs, err)
	}
	if shown := strconv.FormatUint(f.published(), 10) + "\n"; shown != f.shown {
		if err := writeAtomic(filepath.Join(f.zone, RAPLEnergy), shown); err != nil {
			errs = append(errs, err)
		} else {
			f.shown = shown
		}
	}
	return errors.Join(errs...)
}

// published is what energy_uj shows: the counter, unless a job forged it.
func (f *raplFiles) published() uint64 {
	b, err := os.ReadFile(f.forge)
	if err != nil {
		f.frozen = nil
		return f.counter.Counter()
	}
	fg, err := ParseForge(b)
	if err != nil {
		if msg := err.Error(); msg != f.forgeErr {
			f.forgeErr = msg
			f.log.Warn("ignoring the RAPL forge file", "node", f.node, "err", err)
		}
		return f.counter.Counter()
	}
	switch {
	case fg.Set:
		f.frozen = nil
		return fg.Value
	case f.frozen == nil:
		v := f.counter.Counter()
		f.frozen = &v
		f.log.Info("RAPL counter frozen by the forge file", "node", f.node, "energy_uj", v)
	}
	return *f.frozen
}
