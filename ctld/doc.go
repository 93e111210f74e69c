// Package ctld is the controller behind bmcctld: it owns the job life cycle
// state machine (every transition one store transaction), the in-memory view
// of jobs and nodes, the loop that applies the scheduler's plans, the user API
// on the Unix socket, and reconciliation with what machines say after a
// restart. Policy — which job runs where — stays in package scheduler; the
// association rules, fair share and budgets in package assoc, bills and
// statements in package accounting: the controller gathers their inputs
// (assoc.go, quota.go, fairshare.go, statement.go, carbon.go) and applies
// their answers.
package ctld
