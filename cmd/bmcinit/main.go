// Command bmcinit is the node agent bmcctld appends to a job's initrd as
// /bmcinit and boots with rdinit=/bmcinit. It must stay a small static
// binary: build it with CGO_ENABLED=0 -trimpath -ldflags="-s -w".
package main

import (
	"os"

	"github.com/bmc-sched/bmc/agent/pid1"
)

func main() { os.Exit(pid1.Main()) }
