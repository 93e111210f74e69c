package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/bmc-sched/bmc/assoc"
)

// Association, quota and fair-share routes.
const (
	PathAccounts     = "/v1/accounts"     // GET the associations; POST add; PUT /{name} replace; DELETE /{name}
	PathUsers        = "/v1/users"        // POST add; PUT /{name} replace; DELETE /{name}
	PathAssociations = "/v1/associations" // PUT: replace them all (an import)
	PathQuota        = "/v1/quota"        // GET energy budgets
	PathShare        = "/v1/share"        // GET the fair-share tree
)

// Modes of association enforcement, as `bmcq account list` shows them.
const (
	ModeOpen     = "open"     // any account name goes; none defined
	ModeEnforced = "enforced" // a job's account must be one its user may charge
)

// Associations answers GET /v1/accounts: which mode is in force and why,
// and the records.
type Associations struct {
	Mode     string          `json:"mode"`
	Why      string          `json:"why"`
	Accounts []assoc.Account `json:"accounts"`
	Users    []assoc.User    `json:"users"`
}

// ImportRequest replaces every association (PUT /v1/associations);
// ImportResult says what changed.
type ImportRequest struct {
	Accounts []assoc.Account `json:"accounts"`
	Users    []assoc.User    `json:"users"`
	DryRun   bool            `json:"dry_run,omitempty"`
}

// ImportResult lists the names an import added, changed and removed.
type ImportResult struct {
	Accounts Changes `json:"accounts"`
	Users    Changes `json:"users"`
	DryRun   bool    `json:"dry_run,omitempty"`
}

// Changes are names added, changed and removed.
type Changes struct {
	Added   []string `json:"added,omitempty"`
	Changed []string `json:"changed,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// Quota is one energy limit in force (GET /v1/quota): an account's (with
// the accounts below it) or a user's.
type Quota struct {
	Kind      string    `json:"kind"` // account or user
	Name      string    `json:"name"`
	LimitJ    float64   `json:"limit_joules"`
	UsedJ     float64   `json:"used_joules"`
	ReservedJ float64   `json:"reserved_joules"` // by running jobs, settled by their bills
	LeftJ     float64   `json:"left_joules"`
	Period    string    `json:"period"`            // cron of the reset, or "none"
	Since     time.Time `json:"since,omitzero"`    // the period's start
	Reset     time.Time `json:"reset,omitzero"`    // its end: the next reset
	Warning   string    `json:"warning,omitempty"` // 80% or 100% reached
}

// QuotaList answers GET /v1/quota.
type QuotaList struct {
	Quotas []Quota `json:"quotas"`
}

// Share is one account's fair-share standing (GET /v1/share), like a line
// of sshare.
type Share struct {
	Account    string  `json:"account"`
	Parent     string  `json:"parent,omitempty"`
	Depth      int     `json:"depth"`
	RawShares  int     `json:"raw_shares"`
	NormShares float64 `json:"norm_shares"`
	UsageJ     float64 `json:"usage_joules"` // decayed
	NormUsage  float64 `json:"norm_usage"`
	Factor     float64 `json:"fairshare"`
}

// ShareList answers GET /v1/share.
type ShareList struct {
	HalfLife float64 `json:"half_life_seconds"`
	Accounts []Share `json:"accounts"`
}

// PriorityTerm is one part of a waiting job's priority (bmcq show).
type PriorityTerm struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Detail string  `json:"detail"`
}

// Associations reads the associations and the mode in force.
func (c *Client) Associations(ctx context.Context) (Associations, error) {
	var out Associations
	err := c.do(ctx, http.MethodGet, PathAccounts, nil, nil, &out)
	return out, err
}

// AddAccount creates an account; one of that name is a conflict.
func (c *Client) AddAccount(ctx context.Context, a assoc.Account) error {
	return c.do(ctx, http.MethodPost, PathAccounts, nil, a, nil)
}

// PutAccount replaces an existing account.
func (c *Client) PutAccount(ctx context.Context, a assoc.Account) error {
	return c.do(ctx, http.MethodPut, PathAccounts+"/"+url.PathEscape(a.Name), nil, a, nil)
}

// DeleteAccount removes an account.
func (c *Client) DeleteAccount(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, PathAccounts+"/"+url.PathEscape(name), nil, nil, nil)
}

// AddUser creates a user's associations; a user of that name is a conflict.
func (c *Client) AddUser(ctx context.Context, u assoc.User) error {
	return c.do(ctx, http.MethodPost, PathUsers, nil, u, nil)
}

// PutUser replaces a user's associations.
func (c *Client) PutUser(ctx context.Context, u assoc.User) error {
	return c.do(ctx, http.MethodPut, PathUsers+"/"+url.PathEscape(u.Name), nil, u, nil)
}

// DeleteUser removes a user's associations.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, PathUsers+"/"+url.PathEscape(name), nil, nil, nil)
}

// ImportAssociations replaces every association with r's.
func (c *Client) ImportAssociations(ctx context.Context, r ImportRequest) (ImportResult, error) {
	var out ImportResult
	err := c.do(ctx, http.MethodPut, PathAssociations, nil, r, &out)
	return out, err
}

// Quota lists the energy limits in force.
func (c *Client) Quota(ctx context.Context) (QuotaList, error) {
	var out QuotaList
	err := c.do(ctx, http.MethodGet, PathQuota, nil, nil, &out)
	return out, err
}

// Share lists the fair-share tree.
func (c *Client) Share(ctx context.Context) (ShareList, error) {
	var out ShareList
	err := c.do(ctx, http.MethodGet, PathShare, nil, nil, &out)
	return out, err
}
