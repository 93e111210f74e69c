package api

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/bmc-sched/bmc/job"
)

// Accounting routes.
const (
	PathAcct = "/v1/acct" // GET billed jobs; GET /v1/acct/{id}/curve a job's power curve
)

// LedgerEntry is one immutable line of the energy ledger: the energy one
// phase of one boot of a job used on one node, and its price. The ledger is
// keyed by job id, boot number and phase, so a restart or retry that bills
// again finds the entry there and writes nothing.
type LedgerEntry struct {
	Job         uint64    `json:"job"`
	JobID       string    `json:"job_id"`
	Boot        uint64    `json:"boot"`
	Phase       string    `json:"phase"` // boot, run, off
	Name        string    `json:"name"`
	User        string    `json:"user"`
	Account     string    `json:"account,omitempty"`
	Node        string    `json:"node"`
	Arch        string    `json:"arch"`
	Kind        string    `json:"kind"`
	Image       string    `json:"image"`
	ImageDigest string    `json:"image_digest,omitempty"`
	Kernel      string    `json:"kernel,omitempty"`
	Command     string    `json:"command"`
	State       job.State `json:"state"` // where the job went when this boot ended
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Joules      float64   `json:"joules"`
	Duration    float64   `json:"duration_seconds"`
	Samples     int       `json:"samples"`
	Coverage    float64   `json:"coverage"`
	Method      string    `json:"method"`
	Tariff      string    `json:"tariff,omitempty"` // tariff names, in order, "+"-joined when a phase spans windows
	Currency    string    `json:"currency,omitempty"`
	Cost        float64   `json:"cost"`
	Pieces      []Piece   `json:"pieces,omitempty"`
	// EnergyEstimated is set when part of the energy was not measured;
	// Reasons says what and how it was estimated. Never a silent zero.
	EnergyEstimated bool      `json:"energy_estimated"`
	Reasons         []string  `json:"reasons,omitempty"`
	Simulated       bool      `json:"simulated,omitempty"`
	Recorded        time.Time `json:"recorded"`
	// Live marks an entry computed for a boot still in progress: energy
	// so far, not (yet) in the ledger.
	Live bool `json:"live,omitempty"`
	// CarbonGrams is the CO2e of the energy at the grid's intensity.
	CarbonGrams float64 `json:"carbon_g,omitempty"`
	// Credited marks energy the user does not pay for (a failure of the
	// node or the controller); CreditReason says why.
	Credited     bool   `json:"credited,omitempty"`
	CreditReason string `json:"credit_reason,omitempty"`
	// Meter names where the energy came from: bmc-sdr, dcmi,
	// redfish-counter, redfish-watts, rapl-inband or model. In-band
	// energy is SelfReported and billed at least FloorJoules (the kind's
	// idle floor × the phase); an Implausible counter is billed the floor.
	Meter        string  `json:"meter,omitempty"`
	SelfReported bool    `json:"self_reported,omitempty"`
	Implausible  bool    `json:"implausible,omitempty"`
	FloorJoules  float64 `json:"floor_joules,omitempty"`
}

// Piece is the part of a phase priced under one tariff.
type Piece struct {
	Tariff      string    `json:"tariff"`
	PricePerKWh float64   `json:"price_per_kwh"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Joules      float64   `json:"joules"`
	Cost        float64   `json:"cost"`
}

// AcctJob is one billed job: its ledger entries summed.
type AcctJob struct {
	ID              uint64    `json:"id"`
	JobID           string    `json:"job_id"`
	Name            string    `json:"name"`
	User            string    `json:"user"`
	Account         string    `json:"account,omitempty"`
	State           job.State `json:"state"`
	Node            string    `json:"node"` // of the last boot
	Arch            string    `json:"arch"`
	Kind            string    `json:"kind"`
	Image           string    `json:"image"`
	ImageDigest     string    `json:"image_digest,omitempty"`
	Kernel          string    `json:"kernel,omitempty"`
	Command         string    `json:"command"`
	Boots           int       `json:"boots"`
	Start           time.Time `json:"start"` // first power on
	End             time.Time `json:"end"`   // last power off confirmed
	Elapsed         float64   `json:"elapsed_seconds"`
	RunSeconds      float64   `json:"run_seconds"`
	EnergyJoules    float64   `json:"energy_joules"`
	BootJoules      float64   `json:"boot_joules"`
	RunJoules       float64   `json:"run_joules"`
	OffJoules       float64   `json:"off_joules"`
	Cost            float64   `json:"cost"`
	Currency        string    `json:"currency,omitempty"`
	EnergyEstimated bool      `json:"energy_estimated"`
	Reasons         []string  `json:"reasons,omitempty"`
	Simulated       bool      `json:"simulated,omitempty"`
	// Live is set while the job holds a powered node: the figures are the
	// energy so far, and the last boot is not in the ledger yet.
	Live        bool    `json:"live,omitempty"`
	CarbonGrams float64 `json:"carbon_g,omitempty"`
	// Meter is the meters of its entries, "+"-joined when they differ;
	// SelfReported and Implausible are set when any entry is.
	Meter        string `json:"meter,omitempty"`
	SelfReported bool   `json:"self_reported,omitempty"`
	Implausible  bool   `json:"implausible,omitempty"`
	// CreditedJoules and CreditedCost are the part the cluster pays for
	// (a failure of the node or the controller), CreditReasons why. Cost
	// does not include them.
	CreditedJoules float64       `json:"credited_joules,omitempty"`
	CreditedCost   float64       `json:"credited_cost,omitempty"`
	CreditReasons  []string      `json:"credit_reasons,omitempty"`
	Entries        []LedgerEntry `json:"entries,omitempty"`
}

// AcctList answers GET /v1/acct.
type AcctList struct {
	Jobs     []AcctJob `json:"jobs"`
	Currency string    `json:"currency,omitempty"`
}

// CurvePoint is one point of a power curve.
type CurvePoint struct {
	Time  time.Time `json:"time"`
	Watts float64   `json:"watts"`
}

// CurveBoot is the power curve of one boot of a job, with its phase edges.
type CurveBoot struct {
	Boot     uint64       `json:"boot"`
	Node     string       `json:"node"`
	PowerOn  time.Time    `json:"power_on"`
	RunStart time.Time    `json:"run_start"`
	RunEnd   time.Time    `json:"run_end"`
	Off      time.Time    `json:"off"`
	Points   []CurvePoint `json:"points"`
}

// PowerCurve answers GET /v1/acct/{id}/curve.
type PowerCurve struct {
	Job   uint64      `json:"job"`
	Boots []CurveBoot `json:"boots"`
}

// AcctFilter narrows GET /v1/acct; empty fields match everything.
type AcctFilter struct {
	IDs      []string
	Users    []string
	Accounts []string
	States   []string
	Start    time.Time // billed windows ending at or after
	End      time.Time // billed windows starting at or before
	Entries  bool      // include the ledger entries of each job
}

func (f AcctFilter) query() url.Values {
	q := url.Values{}
	for _, v := range f.IDs {
		q.Add("id", v)
	}
	for _, v := range f.Users {
		q.Add("user", v)
	}
	for _, v := range f.Accounts {
		q.Add("account", v)
	}
	for _, v := range f.States {
		q.Add("state", v)
	}
	if !f.Start.IsZero() {
		q.Set("start", f.Start.Format(time.RFC3339Nano))
	}
	if !f.End.IsZero() {
		q.Set("end", f.End.Format(time.RFC3339Nano))
	}
	if f.Entries {
		q.Set("entries", "1")
	}
	return q
}

// Acct lists billed jobs.
func (c *Client) Acct(ctx context.Context, f AcctFilter) (AcctList, error) {
	var out AcctList
	err := c.do(ctx, "GET", PathAcct, f.query(), nil, &out)
	return out, err
}

// Curve returns a job's power curve.
func (c *Client) Curve(ctx context.Context, id uint64) (PowerCurve, error) {
	var out PowerCurve
	err := c.do(ctx, "GET", PathAcct+"/"+strconv.FormatUint(id, 10)+"/curve", nil, nil, &out)
	return out, err
}
