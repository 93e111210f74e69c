package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/bmc-sched/bmc/api"
)

// traceDoc is what tracer.write puts in a trace file, as read back.
type traceDoc struct {
	Path      path          `json:"path"`
	Length    string        `json:"length"`
	Acct      []api.AcctJob `json:"acct"`
	TruthRows []traceRow    `json:"truth_rows"`
}

// readTraces rebuilds the results of runs from their -trace directories,
// so a table can be made again (with columns added since) without the lab,
// and a table too long for one hold of the lab lock made of several runs.
// The config's paths and lengths are those the traces hold, in order.
func readTraces(dirs ...string) ([]result, config, error) {
	var cfg config
	var files []string
	for _, dir := range dirs {
		fs, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			return nil, cfg, err
		}
		if len(fs) == 0 {
			return nil, cfg, fmt.Errorf("-retable %s: no trace files", dir)
		}
		files = append(files, fs...)
	}
	var out []result
	for _, f := range files {
		r, err := readTrace(f)
		if err != nil {
			return nil, cfg, fmt.Errorf("-retable: %s: %w", f, err)
		}
		out = append(out, r)
		if !slices.Contains(cfg.paths, r.path) {
			cfg.paths = append(cfg.paths, r.path)
		}
		if !slices.Contains(cfg.lengths, r.length) {
			cfg.lengths = append(cfg.lengths, r.length)
		}
	}
	slices.SortFunc(cfg.paths, func(a, b path) int { return slices.Index(allPaths, a) - slices.Index(allPaths, b) })
	slices.Sort(cfg.lengths)
	return out, cfg, nil
}

func readTrace(file string) (result, error) {
	var r result
	b, err := os.ReadFile(file)
	if err != nil {
		return r, err
	}
	var d traceDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return r, err
	}
	if !slices.Contains(allPaths, d.Path) {
		return r, fmt.Errorf("unknown path %q", d.Path)
	}
	if r.length, err = time.ParseDuration(d.Length); err != nil {
		return r, fmt.Errorf("length %q: %w", d.Length, err)
	}
	if len(d.Acct) != 1 {
		return r, fmt.Errorf("%d jobs in acct, want 1", len(d.Acct))
	}
	rows := make([]truthRow, 0, len(d.TruthRows))
	for _, x := range d.TruthRows {
		t, err := time.Parse(time.RFC3339Nano, x.T)
		if err != nil {
			return r, fmt.Errorf("truth row %q: %w", x.T, err)
		}
		rows = append(rows, truthRow{t, x.V})
	}
	r.path = d.Path
	if err := r.compare(d.Acct[0], rows); err != nil {
		r.err = err.Error()
	}
	return r, nil
}
