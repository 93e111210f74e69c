// Package ctld is the controller behind bmcctld: it owns the job life cycle
// (one transition function that checks job.Rules and writes the job, its node
// and the event in one store transaction), the in-memory view of jobs and
// nodes, the loop that applies the scheduler's plans through that function,
// the reconciler that compares every node and job with what machines say and
// acts on the difference (retries, power-offs, NODE_FAIL, recovery after a
// restart), and the user API on the Unix socket. Policy — which job runs
// where — stays in package scheduler.
package ctld
