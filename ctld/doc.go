// Package ctld is the controller behind bmcctld: it owns the job life cycle
// (one transition function that checks job.Rules and writes the job, its node
// and the event in one store transaction), the in-memory view of jobs and
// nodes, the loop that applies the scheduler's plans through that function,
// the reconciler that compares every node and job with what machines say and
// acts on the difference (retries, power-offs, NODE_FAIL, recovery after a
// restart), the hand-over of a running machine to the same user's next job
// without a power cycle (reuse.go), power sampling for the bills, and the
// Prometheus series.
//
// What drives a node plugs in through package machine's interfaces (the
// adapters are machine/realnode and machine/simnode), a job's output files
// are package joboutput's, and the user API on the Unix socket is package
// apiserver's, which calls the controller's exported methods. ctld imports
// neither an adapter nor the API. Policy — which job runs where — stays in
// package scheduler; the association rules, fair share and budgets in
// package assoc, bills and statements in package accounting: the controller
// gathers their inputs (assoc.go, quota.go, fairshare.go, statement.go,
// carbon.go) and applies their answers.
package ctld
