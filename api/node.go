package api

import (
	"context"
	"net/url"

	"github.com/bmc-sched/bmc/node"
)

// NodeDetail is `bmcq node show`: the row and the node's history — what the
// controller observed of the machine and did to it (the reconciler's
// actions, drains, failed power-offs), oldest first.
type NodeDetail struct {
	NodeInfo
	Events []node.Event `json:"events"`
}

// Node returns one machine with its history.
func (c *Client) Node(ctx context.Context, name string) (NodeDetail, error) {
	var d NodeDetail
	err := c.do(ctx, "GET", PathNodes+"/"+url.PathEscape(name), nil, nil, &d)
	return d, err
}
