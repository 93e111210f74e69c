// Command vlab-redfish is the virtual lab's Redfish BMC for one node: it
// serves power/redfishtest over HTTPS on 127.0.0.1, starts and kills the
// node's QEMU (scripts/vlabredfish), and reports the watts and energy that
// vlab-meter writes. scripts/vlab up --redfish K starts one per node.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/bmc-sched/bmc/power/redfishtest"
	"github.com/bmc-sched/bmc/scripts/vlabredfish"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "vlab-redfish:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("vlab-redfish", flag.ContinueOnError)
	fl.SetOutput(stderr)
	listen := fl.String("listen", "", "HTTPS address, 127.0.0.1:PORT")
	user := fl.String("user", "admin", "BMC user")
	passFile := fl.String("password-file", "", "file holding the BMC password")
	startcmd := fl.String("startcmd", "", "program that execs the node's QEMU")
	pidfile := fl.String("pidfile", "", "QEMU's -pidfile")
	wattsFile := fl.String("watts-file", "", "the sensor's watts (vlab-meter's power_watts)")
	joulesFile := fl.String("joules-file", "", "the ground-truth joules (vlab-meter's energy_joules)")
	startKWh := fl.Float64("counter-start-kwh", 20_000, "the energy counter's lifetime value at start, kWh")
	period := fl.Duration("counter-period", time.Second, "how often the energy counter moves")
	resolution := fl.Float64("counter-resolution-kwh", 1e-6, "the energy counter's step, kWh")
	noCounter := fl.Bool("no-counter", false, "report watts only: no EnvironmentMetrics energy counter")
	killWait := fl.Duration("kill-wait", 5*time.Second, "SIGTERM → SIGKILL wait when powering off")
	if err := fl.Parse(args); err != nil {
		return err
	}
	for name, v := range map[string]string{"listen": *listen, "password-file": *passFile, "startcmd": *startcmd,
		"pidfile": *pidfile, "watts-file": *wattsFile, "joules-file": *joulesFile} {
		if v == "" {
			return fmt.Errorf("--%s is required", name)
		}
	}
	if host, _, err := net.SplitHostPort(*listen); err != nil || host != "127.0.0.1" {
		return fmt.Errorf("--listen %q: the lab's BMCs listen on 127.0.0.1:PORT only", *listen)
	}
	if *startKWh < 0 || *resolution < 0 || *period < 0 {
		return errors.New("counter settings must not be negative")
	}
	pw, err := os.ReadFile(*passFile)
	if err != nil {
		return err
	}
	password := strings.TrimRight(string(pw), "\r\n")
	if password == "" {
		return fmt.Errorf("%s is empty", *passFile)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	bmc := redfishtest.New(redfishtest.Options{
		User: *user, Password: password,
		Machine:         &vlabredfish.QEMU{StartCmd: *startcmd, PIDFile: *pidfile, Log: stdout, KillWait: *killWait},
		Meter:           vlabredfish.Files{WattsFile: *wattsFile, JoulesFile: *joulesFile},
		Counter:         redfishtest.CounterConfig{StartKWh: *startKWh, Period: *period, ResolutionKWh: *resolution},
		NoEnergyCounter: *noCounter,
	})
	tlsCfg, err := redfishtest.SelfSignedTLS(time.Now())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: bmc, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() { _ = bmc.Run(ctx) }()
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	log.Info("Redfish BMC up", "listen", *listen, "startcmd", *startcmd,
		"energy_counter", !*noCounter, "counter_start_kwh", *startKWh, "counter_period", *period, "counter_resolution_kwh", *resolution)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
