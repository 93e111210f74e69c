package api

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// JobSamples answers GET /v1/acct/{id}/samples: the raw readings of each
// boot of a job, kept (compacted, every window's energy unchanged) for the
// samples' retention.
type JobSamples struct {
	Job   uint64        `json:"job"`
	Boots []BootSamples `json:"boots"`
}

// BootSamples is one boot's readings on its node. Counter readings carry
// cumulative joules; RAPL ones are the node agent's (wrapping at
// CounterMax joules).
type BootSamples struct {
	Boot       uint64   `json:"boot"`
	Node       string   `json:"node"`
	Meter      string   `json:"meter,omitempty"`
	RAPL       bool     `json:"rapl,omitempty"`
	CounterMax float64  `json:"counter_max,omitempty"`
	Samples    []Sample `json:"samples"`
}

// Sample is one reading.
type Sample struct {
	Time    time.Time `json:"time"`
	Watts   float64   `json:"watts"`
	Joules  float64   `json:"joules,omitempty"`
	Counter bool      `json:"counter,omitempty"`
}

// Recompute answers GET /v1/acct/{id}/recompute: each billed entry beside
// the bill computed again from the kept readings.
type Recompute struct {
	Job     uint64           `json:"job"`
	Entries []RecomputeEntry `json:"entries"`
}

// RecomputeEntry is one ledger entry, as billed and as recomputed. Missing
// says why it could not be recomputed (its readings are past retention).
type RecomputeEntry struct {
	Boot             uint64  `json:"boot"`
	Phase            string  `json:"phase"`
	BilledJoules     float64 `json:"billed_joules"`
	RecomputedJoules float64 `json:"recomputed_joules"`
	BilledCost       float64 `json:"billed_cost"`
	RecomputedCost   float64 `json:"recomputed_cost"`
	DiffJoules       float64 `json:"diff_joules"`
	Missing          string  `json:"missing,omitempty"`
}

// Samples reads a job's kept readings.
func (c *Client) Samples(ctx context.Context, id uint64) (JobSamples, error) {
	var out JobSamples
	err := c.do(ctx, http.MethodGet, PathAcct+"/"+strconv.FormatUint(id, 10)+"/samples", nil, nil, &out)
	return out, err
}

// Recompute recomputes a job's bill from its kept readings.
func (c *Client) Recompute(ctx context.Context, id uint64) (Recompute, error) {
	var out Recompute
	err := c.do(ctx, http.MethodGet, PathAcct+"/"+strconv.FormatUint(id, 10)+"/recompute", nil, nil, &out)
	return out, err
}
