// Command slurm measures bmc's user-facing speed side by side with Slurm
// 22.05 from Debian (slurm-wlm, munge) on this machine, in one run:
//
//	flock /tmp/bmc-bench.lock go run ./bench/slurm -out bench/results-slurm.txt
//
// It must run as root (Slurm's daemons run as root here, with their state,
// logs and munge key in a temporary directory, on 127.0.0.1 only). It builds
// bmcctld, bmcsubmit and bmcq, starts a one-node Slurm (munged, slurmctld,
// slurmd) and bmcctld --sim, and interleaves every measurement (bmc, Slurm,
// bmc, Slurm, …) so load from elsewhere falls on both alike:
//
//   - a shell loop of submits of held jobs: bmcsubmit --parsable (the job
//     file says hold = true) against sbatch --parsable --hold, and the same
//     commands' --version (process start-up alone);
//   - the CPU time the daemon spends per submit (bmcctld; slurmctld, and
//     slurmctld + munged), with the queue empty and with 3,000 held jobs;
//   - daemon RSS empty and with 10,000 held jobs;
//   - the plain queue listing at 10,000 held jobs: bmcq against squeue.
//
// Held jobs never run, so the queue grows to any size and only submitting
// and listing are timed. Ratios are Slurm's time over bmc's: above 1, bmc
// is faster.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

type config struct {
	out       string
	rounds    int // interleaved submit-loop rounds at each queue size
	loop      int // submits per loop
	held      int // the larger queue for CPU per submit
	queue     int // the queue listed
	qRuns     int // timed listings of each
	sim       int
	slurmPort int
	keep      bool
	bin       string // prebuilt bmcctld, bmcsubmit and bmcq instead of building them
	startup   string // the argument that makes both submit commands start and exit
}

func main() {
	var cfg config
	flag.StringVar(&cfg.out, "out", "", "also write the report to this file")
	flag.IntVar(&cfg.rounds, "rounds", 9, "interleaved rounds of submit loops at each queue size")
	flag.IntVar(&cfg.loop, "loop", 150, "submits per loop")
	flag.IntVar(&cfg.held, "held", 3000, "held jobs queued for the second CPU-per-submit measurement")
	flag.IntVar(&cfg.queue, "queue", 10000, "held jobs queued for the listing and RSS measurements")
	flag.IntVar(&cfg.qRuns, "q-runs", 20, "timed listings of each system")
	flag.IntVar(&cfg.sim, "sim", 8, "simulated machines of bmcctld")
	flag.IntVar(&cfg.slurmPort, "slurm-port", 16817, "slurmctld's port on 127.0.0.1 (slurmd gets the next)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (state, logs)")
	flag.StringVar(&cfg.bin, "bin", "", "use the bmcctld, bmcsubmit and bmcq in this directory instead of building this module's")
	flag.StringVar(&cfg.startup, "startup-arg", "--version", "argument of the start-up loop (--help for builds without --version)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench/slurm:", err)
		os.Exit(1)
	}
}
