package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bmc-sched/bmc/api"
)

// tracer writes, for each job, what went into its error: the ledger
// entries, the power curve the bill integrated (the meter's readings as
// dated), the truth and the BMC sensor's view around the job's window.
type tracer struct {
	dir    string
	p      path
	truth  *truthLog
	sensor *truthLog
}

// newTracer follows the sensor of the lab's node; truth is the path's
// truth log, already followed.
func newTracer(dir string, p path, lab string, truth *truthLog) *tracer {
	return &tracer{dir: dir, p: p, truth: truth, sensor: recordTruth(filepath.Join(lab, "node1", "power_watts"))}
}

func (t *tracer) stop() { t.sensor.stop() }

// traceRow is a counter or sensor value and when its file changed.
type traceRow struct {
	T string  `json:"t"`
	V float64 `json:"v"`
}

func (t *tracer) write(ctx context.Context, c *api.Client, r result, k int) error {
	list, err := c.Acct(ctx, api.AcctFilter{IDs: []string{fmt.Sprint(r.id)}, Entries: true})
	if err != nil {
		return err
	}
	cv, err := c.Curve(ctx, r.id)
	if err != nil {
		return err
	}
	rows := func(l *truthLog) []traceRow {
		l.mu.Lock()
		defer l.mu.Unlock()
		var out []traceRow
		for _, x := range l.rows {
			if x.t.After(r.start.Add(-5e9)) && x.t.Before(r.end.Add(5e9)) {
				out = append(out, traceRow{x.t.Format("2006-01-02T15:04:05.000000Z07:00"), x.j})
			}
		}
		return out
	}
	tf, _ := t.p.truth()
	doc := map[string]any{
		"path": t.p, "length": r.length.String(), "billed": r.billed, "truth": r.truth,
		"acct": list.Jobs, "curve": cv, "truth_file": tf, "truth_rows": rows(t.truth), "sensor_rows": rows(t.sensor),
	}
	if r.truth > 0 { // a job not compared has none, and JSON has no NaN
		doc["error_pct"] = r.errPct()
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(t.dir, fmt.Sprintf("%s-%s-%d.json", t.p, r.length, k)), b, 0o644)
}
