// Command bmcsubmit submits a bare-metal job file to bmcctld.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/bmc-sched/bmc/cli"
	"github.com/bmc-sched/bmc/cli/bmcsubmit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit(os.Stderr, "bmcsubmit", err))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	env := cli.DefaultEnv(stdout, stderr)
	return cli.Run(ctx, bmcsubmit.NewCommand(env), args, env)
}
