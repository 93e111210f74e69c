// Command bmcsubmit submits a bare-metal job file to bmcctld.
package main

import (
	"context"
	"io"
	"os"

	"github.com/bmc-sched/bmc/cli"
	"github.com/bmc-sched/bmc/cli/bmcsubmit"
)

// main installs no signal handler: a submit is one round trip, and an
// interrupt ends it as it ends any command (bmcsubmit.Run handles
// interrupts itself while --wait follows a job). Handling signals from the
// start cost two more threads at every submit.
func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(cli.Exit(os.Stderr, "bmcsubmit", err))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return bmcsubmit.Run(ctx, cli.DefaultEnv(stdout, stderr), args)
}
