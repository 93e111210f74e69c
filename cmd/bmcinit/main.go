// Command bmcinit is the node agent bmcctld appends to a job's initrd as
// /bmcinit and boots with rdinit=/bmcinit. It must stay a small static
// binary: build it with CGO_ENABLED=0 -trimpath -ldflags="-s -w".
//
// The agent starts each job under bmcinit again, as argv[0] "bmc-jobinit":
// that process is the first of the job's own PID namespace, where it is
// PID 1 too, so the choice is made on argv[0] before pid1.Main's check.
package main

import (
	"os"

	"github.com/bmc-sched/bmc/agent"
	"github.com/bmc-sched/bmc/agent/pid1"
)

func main() {
	if len(os.Args) > 0 && os.Args[0] == agent.JobInitName {
		os.Exit(agent.JobInitMain())
	}
	os.Exit(pid1.Main())
}
