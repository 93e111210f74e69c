// Command bmcctld is the bmc controller daemon: it holds the queue, powers
// machines through their BMCs, boots them into each job's kernel and image,
// and serves the user API on a Unix socket.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	go func() {
		// A second signal forces the exit the first one asked for politely.
		<-ctx.Done()
		stop()
		force := make(chan os.Signal, 1)
		signal.Notify(force, syscall.SIGTERM, syscall.SIGINT)
		<-force
		fmt.Fprintln(os.Stderr, "bmcctld: second signal, exiting now")
		os.Exit(2)
	}()
	// A daemon whose log pipe closes must not die of SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bmcctld:", err)
		os.Exit(1)
	}
}

var _ io.Writer = os.Stdout
