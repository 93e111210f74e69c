// Command vlab-meter is the virtual lab's power model and ground-truth energy
// meter: one process per lab, started by scripts/vlab (see package
// scripts/vlabmeter).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bmc-sched/bmc/scripts/vlabmeter"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "vlab-meter:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	fl := flag.NewFlagSet("vlab-meter", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("dir", "", "lab directory (scripts/vlab up --dir)")
	cfgPath := fl.String("config", "", "meter config (default DIR/meter.toml)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *dir == "" && *cfgPath == "" {
		return errors.New("--dir or --config is required")
	}
	if *cfgPath == "" {
		*cfgPath = filepath.Join(*dir, "meter.toml")
	}
	data, err := os.ReadFile(*cfgPath)
	if err != nil {
		return err
	}
	cfg, err := vlabmeter.ParseConfig(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *cfgPath, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	m, err := vlabmeter.New(cfg, vlabmeter.ProcFS{Root: "/proc"}, time.Now, log)
	if err != nil {
		return err
	}
	t := time.NewTicker(time.Duration(cfg.Interval))
	defer t.Stop()
	log.Info("meter running", "config", *cfgPath, "interval", time.Duration(cfg.Interval), "nodes", len(cfg.Nodes))
	err = m.Run(ctx, t.C)
	return errors.Join(err, m.Close())
}
