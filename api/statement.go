package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/bmc-sched/bmc/accounting"
)

// Statement and carbon routes.
const (
	PathStatement = "/v1/statement" // GET ?account=A&period=2026-11 or &start=&end=
	PathCarbon    = "/v1/carbon"    // PUT hourly intensities (admins)
)

// Statement is one account's bill for a period [From, To): per user and
// per job the joules in the period, cut at its edges, their cost by tariff
// and their CO2e; energy credited to users; the cluster's unbilled energy.
type Statement struct {
	Account  string          `json:"account"`
	From     time.Time       `json:"from"`
	To       time.Time       `json:"to"`
	Currency string          `json:"currency,omitempty"`
	Users    []StatementUser `json:"users"`
	Totals   StatementTotals `json:"totals"`
	// Unbilled is the cluster's energy that no job was billed for in the
	// period (idle machines, failed power-offs, ...), shown apart. Nil
	// when the controller does not record it.
	Unbilled *Unbilled `json:"unbilled"`
	// Partial is set when the caller sees only their own jobs (a member
	// who neither coordinates the account nor is an admin).
	Partial bool `json:"partial,omitempty"`
}

// StatementUser is one user's part of a statement.
type StatementUser struct {
	User   string          `json:"user"`
	Jobs   []StatementJob  `json:"jobs"`
	Totals StatementTotals `json:"totals"`
}

// StatementJob is one job's part of the period.
type StatementJob struct {
	Job            uint64            `json:"job"`
	JobID          string            `json:"job_id"`
	Name           string            `json:"name"`
	Account        string            `json:"account"`
	Joules         float64           `json:"joules"`
	Cost           float64           `json:"cost"`
	CarbonGrams    float64           `json:"carbon_g"`
	Tariffs        []StatementTariff `json:"tariffs,omitempty"`
	Split          bool              `json:"split,omitempty"`    // part of its energy is in another period
	SplitBy        string            `json:"split_by,omitempty"` // curve or time
	CreditedJoules float64           `json:"credited_joules,omitempty"`
	CreditedCost   float64           `json:"credited_cost,omitempty"`
	Estimated      bool              `json:"energy_estimated,omitempty"`
}

// StatementTariff is a job's period energy under one tariff window.
type StatementTariff struct {
	Tariff      string  `json:"tariff"`
	PricePerKWh float64 `json:"price_per_kwh"`
	Joules      float64 `json:"joules"`
	Cost        float64 `json:"cost"`
}

// StatementTotals sums a statement or a user's part.
type StatementTotals struct {
	Jobs           int     `json:"jobs"`
	Joules         float64 `json:"joules"`
	Cost           float64 `json:"cost"`
	CarbonGrams    float64 `json:"carbon_g"`
	CreditedJoules float64 `json:"credited_joules"`
	CreditedCost   float64 `json:"credited_cost"`
}

// Unbilled is the cluster's energy not billed to any job in a period.
type Unbilled struct {
	Joules  float64            `json:"joules"`
	Reasons map[string]float64 `json:"reasons,omitempty"` // joules by reason
}

// StatementQuery selects a statement: an account and either a period
// ("2026-11", read in the site's zone) or Start and End.
type StatementQuery struct {
	Account    string
	Period     string
	Start, End time.Time
}

// Statement reads an account's statement.
func (c *Client) Statement(ctx context.Context, q StatementQuery) (Statement, error) {
	v := url.Values{"account": {q.Account}}
	if q.Period != "" {
		v.Set("period", q.Period)
	}
	if !q.Start.IsZero() {
		v.Set("start", q.Start.Format(time.RFC3339Nano))
	}
	if !q.End.IsZero() {
		v.Set("end", q.End.Format(time.RFC3339Nano))
	}
	var out Statement
	err := c.do(ctx, http.MethodGet, PathStatement, v, nil, &out)
	return out, err
}

// CarbonImport carries hourly carbon intensities to store, replacing those
// of the same hours.
type CarbonImport struct {
	Hours []accounting.CarbonHour `json:"hours"`
}

// CarbonImported says how many values the controller holds after an import.
type CarbonImported struct {
	Imported int       `json:"imported"`
	Total    int       `json:"total"`
	First    time.Time `json:"first,omitzero"`
	Last     time.Time `json:"last,omitzero"`
}

// ImportCarbon stores hourly intensities (admins).
func (c *Client) ImportCarbon(ctx context.Context, r CarbonImport) (CarbonImported, error) {
	var out CarbonImported
	err := c.do(ctx, http.MethodPut, PathCarbon, nil, r, &out)
	return out, err
}
