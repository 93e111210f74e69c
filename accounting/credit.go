package accounting

import (
	"fmt"

	"github.com/bmc-sched/bmc/job"
)

// FailurePolicy says who pays for a boot that failed through the node or
// the controller.
type FailurePolicy string

const (
	// FailuresCluster (the default) credits such a boot to the user: its
	// entries stay on the job's bill marked credited, and the energy
	// counts to the cluster's overhead account.
	FailuresCluster FailurePolicy = "cluster"
	// FailuresUser bills every boot to its job, whatever failed.
	FailuresUser FailurePolicy = "user"
)

// ParseFailurePolicy reads the --failure-billing flag; "" is the default.
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	switch FailurePolicy(s) {
	case "", FailuresCluster:
		return FailuresCluster, nil
	case FailuresUser:
		return FailuresUser, nil
	}
	return "", fmt.Errorf("failure billing %q: want cluster or user", s)
}

// Credit says why the boot a job leaves for state to (with reason, the
// node put DOWN by a fault when nodeFault) is not the user's to pay, or ""
// when it is. The node's and the controller's failures are credited:
// NODE_FAIL (and its requeue), a boot that failed and took the node DOWN,
// and a boot aborted for a security event. A job that failed by itself
// (exit status, time limit, out of memory, a cancel, a boot that failed
// without a node fault: its own kernel or image) stays billed.
func (p FailurePolicy) Credit(to job.State, reason job.Reason, nodeFault bool) string {
	if p == FailuresUser {
		return ""
	}
	switch {
	case reason == job.ReasonBootAborted:
		return ReasonAbortedBoot
	case to == job.NodeFail, reason == job.ReasonNodeFailRequeue:
		return ReasonNodeFail
	case (to == job.BootFail || reason == job.ReasonBootRetry) && nodeFault:
		return ReasonBootFail
	}
	return ""
}
