// Command bmcq shows and manages the bmc queue, its machines and energy accounting.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/bmc-sched/bmc/cli"
	"github.com/bmc-sched/bmc/cli/bmcq"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit(os.Stderr, "bmcq", err))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return bmcq.Run(ctx, cli.DefaultEnv(stdout, stderr), args)
}
