// Package swf reads workload traces in the Standard Workload Format of the
// Parallel Workloads Archive: one job a line, 18 whitespace-separated
// fields, ';' starting a header line, -1 for an unknown field. The replays
// (scheduler's test, bench/replay) read their traces through it.
package swf

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Job is the part of an SWF record the replays need.
type Job struct {
	ID      uint64
	Submit  time.Duration // since the trace's start
	Wait    time.Duration // as recorded on the traced machine; -1 s unknown
	Run     time.Duration
	Procs   int           // used, or requested when used is unknown
	Request time.Duration // the user's estimate; the run time when absent
	User    int           // -1: unknown
}

// maxSeconds bounds a time field: about 136 years, well inside a Duration.
const maxSeconds = 1 << 32

// Parse reads at most limit records from r.
func Parse(r io.Reader, limit int) ([]Job, error) {
	var out []Job
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() && len(out) < limit {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == ';' {
			continue
		}
		f := strings.Fields(text)
		if len(f) < 9 {
			return nil, fmt.Errorf("line %d: %d fields, want 18", line, len(f))
		}
		var v [12]int64
		v[11] = -1
		for i := range min(len(f), len(v)) {
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("line %d field %d: %w", line, i+1, err)
			}
			v[i] = n
		}
		// Seconds beyond maxSeconds would overflow a time.Duration.
		if v[0] < 0 || v[1] < 0 || v[1] > maxSeconds || v[2] > maxSeconds || v[3] > maxSeconds || v[8] > maxSeconds {
			return nil, fmt.Errorf("line %d: id, submit or times out of range", line)
		}
		procs := v[4]
		if procs <= 0 {
			procs = v[7] // requested when used is unknown
		}
		j := Job{ID: uint64(v[0]), Submit: time.Duration(v[1]) * time.Second,
			Wait: time.Duration(max(v[2], -1)) * time.Second,
			Run:  time.Duration(v[3]) * time.Second, Procs: int(max(-1, min(procs, 1<<20))),
			Request: time.Duration(v[8]) * time.Second, User: int(max(-1, min(v[11], 1<<30)))}
		if j.Request <= 0 {
			j.Request = j.Run
		}
		out = append(out, j)
	}
	return out, sc.Err()
}

// Open reads at most limit records of the trace at path, gunzipping a
// name ending in .gz.
func Open(path string, limit int) ([]Job, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	jobs, err := Parse(r, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return jobs, nil
}
