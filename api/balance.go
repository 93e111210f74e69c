package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// PathBalance is GET /v1/balance?start=&end=: each node's energy
// balance over the period.
const PathBalance = "/v1/balance"

// NodeBalance is one node's energy over a period: what its meter counted,
// and where every joule went. MeteredJoules = BilledJoules +
// UnbilledJoules + StandbyJoules + LiveJoules, up to ResidualJoules (the
// meters' rounding and the edges of readings).
type NodeBalance struct {
	Node          string    `json:"node"`
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	Meter         string    `json:"meter,omitempty"`
	MeteredJoules float64   `json:"metered_joules"`
	BilledJoules  float64   `json:"billed_joules"`
	// UnbilledJoules is energy no job pays, by reason in UnbilledByReason
	// (idle-on, power-off-failed, power-on-failed, aborted-boot,
	// controller-down, reuse-gap, and the credited failures node-fail and
	// boot-fail).
	UnbilledJoules   float64            `json:"unbilled_joules"`
	UnbilledByReason map[string]float64 `json:"unbilled_by_reason"`
	StandbyJoules    float64            `json:"standby_joules"`
	// LiveJoules is the energy so far of a boot still on the node, not
	// yet in the ledger.
	LiveJoules     float64 `json:"live_joules,omitempty"`
	ResidualJoules float64 `json:"residual_joules"`
	Estimated      bool    `json:"estimated,omitempty"`
}

// Balance answers GET /v1/balance.
type Balance struct {
	From  time.Time     `json:"from"`
	To    time.Time     `json:"to"`
	Nodes []NodeBalance `json:"nodes"`
	Total NodeBalance   `json:"total"`
}

// Balance reads each node's energy balance over [start, end); zero times
// mean from the first reading, up to now.
func (c *Client) Balance(ctx context.Context, start, end time.Time) (Balance, error) {
	v := url.Values{}
	if !start.IsZero() {
		v.Set("start", start.Format(time.RFC3339Nano))
	}
	if !end.IsZero() {
		v.Set("end", end.Format(time.RFC3339Nano))
	}
	var out Balance
	err := c.do(ctx, http.MethodGet, PathBalance, v, nil, &out)
	return out, err
}
