package vlabmeter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Files a node's directory holds.
const (
	PIDFile    = "qemu.pid"      // written by QEMU (-pidfile)
	WattsFile  = "power_watts"   // the sensor's integer watts; ipmi_sim polls it for "Sys Power"
	JoulesFile = "energy_joules" // the ground-truth counter, rewritten every interval
	TruthFile  = "truth.csv"     // time,true watts,joules at csv_interval
)

// Meter samples every node of a lab, integrates its true watts into the
// ground-truth counter and publishes its sensor's degraded view of them.
type Meter struct {
	cfg   Config
	procs Processes
	now   func() time.Time
	log   *slog.Logger
	nodes []*nodeMeter
}

type nodeMeter struct {
	cfg     NodeConfig
	integ   *Integrator
	sensor  *Sensor
	shown   string // the sensor file's content, rewritten only on change
	csv     *os.File
	lastRow time.Time
	watts   float64
	joules  float64
	t       time.Time
	running bool
	rapl    *raplFiles // nil: no RAPL emulation
}

// New opens each node's truth.csv (appending) and resumes its counter from
// energy_joules when the file exists.
func New(cfg Config, procs Processes, now func() time.Time, log *slog.Logger) (*Meter, error) {
	m := &Meter{cfg: cfg, procs: procs, now: now, log: log}
	for i, n := range cfg.Nodes {
		j, err := readJoules(filepath.Join(n.Dir, JoulesFile))
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		f, err := os.OpenFile(filepath.Join(n.Dir, TruthFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		if st, err := f.Stat(); err == nil && st.Size() == 0 {
			if _, err := f.WriteString("time,watts,joules\n"); err != nil {
				f.Close()
				m.Close()
				return nil, fmt.Errorf("node %s: %w", n.Name, err)
			}
		}
		nm := &nodeMeter{cfg: n, integ: NewIntegrator(cfg.Model(i), j),
			sensor: NewSensor(cfg.SensorConfig(), cfg.Seed, n.Name), csv: f, joules: j}
		m.nodes = append(m.nodes, nm)
		if n.RAPL != nil {
			if nm.rapl, err = openRAPL(n, log); err != nil {
				m.Close()
				return nil, fmt.Errorf("node %s: %w", n.Name, err)
			}
		}
		log.Info("metering node", "node", n.Name, "dir", n.Dir, "joules", j,
			"idle_watts", n.IdleWatts, "dynamic_watts", n.DynamicWatts, "standby_watts", n.StandbyWatts)
	}
	return m, nil
}

func readJoules(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	j, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil || j < 0 {
		return 0, fmt.Errorf("%s holds %q, not a joules counter", path, b)
	}
	return j, nil
}

// Run samples on every tick until ctx ends, then writes the last CSV rows.
func (m *Meter) Run(ctx context.Context, ticks <-chan time.Time) error {
	if err := m.Step(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return m.flush()
		case <-ticks:
			if err := m.Step(); err != nil {
				return err
			}
		}
	}
}

// Step takes one sample of every node and publishes it.
func (m *Meter) Step() error {
	var errs []error
	for _, n := range m.nodes {
		pid, cpu, ok := m.procs.QEMU(filepath.Join(n.cfg.Dir, PIDFile))
		t := m.now()
		w, j := n.integ.Add(Sample{Time: t, Running: ok, PID: pid, CPU: cpu})
		if ok != n.running {
			m.log.Info("node power", "node", n.cfg.Name, "running", ok, "pid", pid, "joules", j)
		}
		n.watts, n.joules, n.t, n.running = w, j, t, ok
		if shown := strconv.Itoa(int(math.Round(n.sensor.Add(t, w)))) + "\n"; shown != n.shown {
			if err := writeAtomic(filepath.Join(n.cfg.Dir, WattsFile), shown); err != nil {
				errs = append(errs, fmt.Errorf("node %s: %w", n.cfg.Name, err))
			} else {
				n.shown = shown
			}
		}
		if err := writeAtomic(filepath.Join(n.cfg.Dir, JoulesFile), strconv.FormatFloat(j, 'f', 3, 64)+"\n"); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n.cfg.Name, err))
		}
		if n.rapl != nil {
			if err := n.rapl.step(t, ok, pid, n.integ.Use()); err != nil {
				errs = append(errs, fmt.Errorf("node %s: %w", n.cfg.Name, err))
			}
		}
		// Half an interval of slack keeps rows on the CSV period despite tick jitter.
		if n.lastRow.IsZero() || t.Sub(n.lastRow) >= time.Duration(m.cfg.CSVInterval)-time.Duration(m.cfg.Interval)/2 {
			if err := n.row(); err != nil {
				errs = append(errs, fmt.Errorf("node %s: %w", n.cfg.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (n *nodeMeter) row() error {
	n.lastRow = n.t
	_, err := fmt.Fprintf(n.csv, "%.3f,%.2f,%.3f\n", float64(n.t.UnixMilli())/1000, n.watts, n.joules)
	return err
}

func (m *Meter) flush() error {
	var errs []error
	for _, n := range m.nodes {
		if !n.t.IsZero() && n.t != n.lastRow {
			errs = append(errs, n.row())
		}
	}
	return errors.Join(errs...)
}

// Close closes the CSV files.
func (m *Meter) Close() error {
	var errs []error
	for _, n := range m.nodes {
		errs = append(errs, n.csv.Close())
	}
	return errors.Join(errs...)
}

// writeAtomic replaces path so that a reader (ipmi_sim, the accounting test)
// never sees a half-written number. No fsync: the files are live readings,
// rewritten many times a second, not records.
func writeAtomic(path, data string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
