// Command turnaround measures how fast a job array goes through the virtual
// lab and what it costs per task, under bmcctld settings to compare: for
// each configuration it brings up a two-node lab (scripts/vlab), restarts
// bmcctld with the configuration's flags, submits one array of short tasks
// and follows it to the end. It reports first submit → last end, the
// joules billed per task (the ledger), the joules the lab's meters counted
// per task over the whole run (boots, idle gaps and standby included) and
// how many tasks booted their machine.
//
// Run from the repository root, as root, under the lab lock:
//
//	flock /tmp/bmc-lab.lock go run ./bench/turnaround
//	flock /tmp/bmc-lab.lock go run ./bench/turnaround -config 'never=--reuse never --idle-off immediate' -config default=
//
// With -handoff R it measures instead how long a job waits for its machine
// (POWERING_ON → RUNNING) on one aarch64 node after a power cycle, a reset
// and a kexec, over R rounds of one of each (measureHandoff):
//
//	flock /tmp/bmc-lab.lock go run ./bench/turnaround -handoff 3
//
// BMCCTLD (and VLAB_METER) name prebuilt binaries for scripts/vlab.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

type config struct {
	name  string
	flags []string
}

type configList []config

func (l *configList) String() string { return fmt.Sprint(*l) }

// Set takes NAME=FLAGS: bmcctld flags separated by blanks ("" for the defaults).
func (l *configList) Set(s string) error {
	name, flags, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=FLAGS, got %q", s)
	}
	*l = append(*l, config{name: name, flags: strings.Fields(flags)})
	return nil
}

type options struct {
	tasks       int
	sleep       time.Duration
	dir         string
	configs     configList
	portBase    int
	nodePort    int
	sshBase     int
	metricsPort int
	timeout     time.Duration
	handoff     int
}

func main() {
	var o options
	flag.IntVar(&o.tasks, "tasks", 20, "tasks in the array")
	flag.DurationVar(&o.sleep, "sleep", 5*time.Second, "how long each task's command sleeps")
	flag.StringVar(&o.dir, "dir", "", "parent of the labs' directories (default: a new temporary one)")
	flag.Var(&o.configs, "config", "NAME=BMCCTLD-FLAGS to compare (repeat; default never='--reuse never' and default='')")
	flag.IntVar(&o.portBase, "port-base", 49001, "vlab --port-base (IPMI)")
	flag.IntVar(&o.nodePort, "node-port", 48150, "vlab --node-port")
	flag.IntVar(&o.sshBase, "ssh-base", 42222, "vlab --ssh-base")
	flag.IntVar(&o.metricsPort, "metrics-port", 48151, "vlab --metrics-port")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up on one configuration after this long")
	flag.IntVar(&o.handoff, "handoff", 0, "instead: R rounds of power cycle, reset and kexec on one aarch64 node")
	flag.Parse()
	if len(o.configs) == 0 {
		o.configs = configList{{name: "never", flags: []string{"--reuse", "never"}}, {name: "default"}}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(context.Background(), o, log); err != nil {
		log.Error("bench failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	if o.dir == "" {
		d, err := os.MkdirTemp("", "bmc-bench-turnaround-")
		if err != nil {
			return err
		}
		o.dir = d
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	if o.handoff > 0 {
		got, err := measureHandoff(ctx, o, log)
		if err != nil {
			return err
		}
		reportHandoff(os.Stdout, got)
		return nil
	}
	var results []result
	for _, c := range o.configs {
		r, err := measure(ctx, o, c, log)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		log.Info("configuration done", "config", c.name, "makespan", r.makespan, "boots", r.boots)
		results = append(results, r)
	}
	report(os.Stdout, o, results)
	return nil
}
