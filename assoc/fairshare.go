package assoc

import (
	"math"
	"slices"
)

// Share is one account's fair-share standing, as sshare shows it: raw and
// normalized shares, energy used (decayed) and normalized, and the factor.
type Share struct {
	Account string
	Parent  string
	Depth   int // 0 at the top
	// RawShares is the account's Shares; NormShares its part of the whole
	// cluster: its shares over its siblings', times its parent's part.
	RawShares  int
	NormShares float64
	// Usage is the decayed joules of the account's jobs and those of the
	// accounts below it; NormUsage its part of all accounts' usage.
	Usage     float64
	NormUsage float64
	// Factor is 2^(-NormUsage/NormShares): 1 for an account that used
	// nothing, 0.5 for one that used exactly its share, towards 0 beyond.
	Factor float64
}

// FairShare computes every account's factor from usage (decayed joules by
// the account jobs were billed to). It is Slurm's classic fair-share
// formula F = 2^(-U/S), in energy rather than CPU time: S multiplies each
// level's share among its siblings down the tree, U is the account's
// subtree usage over the cluster's. Accounts that jobs used but the tree
// does not hold (no enforcement) count as top-level accounts of one share.
// The result is in tree order: each account before the accounts below it,
// siblings by name.
func FairShare(t *Tree, usage map[string]float64) []Share {
	type node struct {
		a    Account
		kids []string
	}
	nodes := map[string]*node{}
	for _, a := range t.Accounts() {
		nodes[a.Name] = &node{a: a, kids: t.Children(a.Name)}
	}
	top := t.Children("")
	for name := range usage {
		if _, ok := nodes[name]; !ok {
			nodes[name] = &node{a: Account{Name: name, Shares: 1}}
			top = append(top, name)
		}
	}
	slices.Sort(top)
	subtree := map[string]float64{}
	var sum func(string) float64
	sum = func(name string) float64 {
		u := max(usage[name], 0)
		for _, k := range nodes[name].kids {
			u += sum(k)
		}
		subtree[name] = u
		return u
	}
	var total float64
	for _, name := range top {
		total += sum(name)
	}
	var out []Share
	var walk func(names []string, parent string, depth int, parentShare float64)
	walk = func(names []string, parent string, depth int, parentShare float64) {
		siblings := 0
		for _, n := range names {
			siblings += nodes[n].a.Shares
		}
		for _, n := range names {
			a := nodes[n].a
			s := Share{Account: n, Parent: parent, Depth: depth, RawShares: a.Shares, Usage: subtree[n]}
			s.NormShares = parentShare * float64(a.Shares) / float64(siblings)
			if total > 0 {
				s.NormUsage = subtree[n] / total
			}
			s.Factor = math.Exp2(-s.NormUsage / s.NormShares)
			out = append(out, s)
			walk(nodes[n].kids, n, depth+1, s.NormShares)
		}
	}
	walk(top, "", 0, 1)
	return out
}

// Factors returns FairShare's factors by account.
func Factors(shares []Share) map[string]float64 {
	out := make(map[string]float64, len(shares))
	for _, s := range shares {
		out[s.Account] = s.Factor
	}
	return out
}
