// Package ctld is the controller behind bmcctld: it owns the job life cycle
// (one transition function that checks job.Rules and writes the job, its node
// and the event in one store transaction), the in-memory view of jobs and
// nodes, the loop that applies the scheduler's plans through that function,
// the reconciler that compares every node and job with what machines say and
// acts on the difference (retries, power-offs, NODE_FAIL, recovery after a
// restart), and the user API on the Unix socket. Policy — which job runs
// where — stays in package scheduler; the association rules, fair share and
// budgets in package assoc, bills and statements in package accounting: the
// controller gathers their inputs (assoc.go, quota.go, fairshare.go,
// statement.go, carbon.go) and applies their answers.
package ctld
