// Command bmcsubmit submits a bare-metal job file to bmcctld.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bmc-sched/bmc/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	env := cli.DefaultEnv()
	code := cli.Main(ctx, cli.NewSubmitCommand(env), os.Args[1:], env, "bmcsubmit")
	stop()
	os.Exit(code)
}
