// Package ctld is the controller behind bmcctld: it owns the job life cycle
// state machine (every transition one store transaction), the in-memory view
// of jobs and nodes, the loop that applies the scheduler's plans, the user API
// on the Unix socket, and reconciliation with what machines say after a
// restart. Policy — which job runs where — stays in package scheduler.
package ctld
