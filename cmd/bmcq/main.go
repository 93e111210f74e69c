// Command bmcq shows and manages the bmc queue, its machines and energy accounting.
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
	code := cli.Main(ctx, cli.NewBmcqCommand(env), os.Args[1:], env, "bmcq")
	stop()
	os.Exit(code)
}
