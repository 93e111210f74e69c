// Package bmcsubmit is the bmcsubmit command: it sends a job file to
// bmcctld, which parses, checks and queues it, and prints the job id; with
// --wait it follows the job to its end.
//
// bmcsubmit starts once per job, often in shell loops, so what it links is
// paid at every submit in package inits and page faults. It imports no
// job-file parser, no image-reference code and no HTTP: it speaks the plain
// protocol of api/wire, and the daemon's errors still name the file, line
// and field. Unlike bmcq it parses its flags with pflag alone (the same
// syntax cobra gives): cobra, with text/template, cost it about 60 page
// faults and 0.3-0.4 ms of CPU per run on the benchmark VM, a tenth of a
// submit. TestLeanImportGraph keeps it that way.
package bmcsubmit

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/buildinfo"
	"github.com/bmc-sched/bmc/cli"
)

type flags struct {
	socket   string
	parsable bool
	wait     bool
	help     bool
	version  bool
	greenest bool
	deadline string
	o        wire.Overrides
}

const usage = `bmcsubmit submits a job file to bmcctld and prints the job id. bmcctld
checks the file; a problem is one line naming the file, line and field.
Flags override the file's fields. With --wait it follows the job to its end
and exits with the job's exit status.

Usage:
  bmcsubmit [flags] JOB.toml

Flags:
`

func newFlagSet(f *flags) *pflag.FlagSet {
	fl := pflag.NewFlagSet("bmcsubmit", pflag.ContinueOnError)
	fl.SetOutput(io.Discard) // errors come back to Run, usage is printed on request
	fl.SortFlags = false
	fl.StringVar(&f.socket, "socket", "", "bmcctld socket (default $BMC_SOCKET or "+wire.DefaultSocket+")")
	fl.BoolVar(&f.parsable, "parsable", false, "print only the job id")
	fl.BoolVarP(&f.wait, "wait", "W", false, "wait for the job to end; exit with its exit status")
	fl.StringVarP(&f.o.Array, "array", "a", "", `job array, e.g. "1-100%10"`)
	fl.StringVarP(&f.o.Dependency, "dependency", "d", "", `dependencies, e.g. "afterok:12,afterany:13"`)
	fl.BoolVarP(&f.o.Hold, "hold", "H", false, "submit held")
	fl.StringVarP(&f.o.Time, "time", "t", "", `time limit, e.g. "30", "1:00:00", "2h"`)
	fl.StringVarP(&f.o.Account, "account", "A", "", "account to bill")
	fl.StringVarP(&f.o.Name, "job-name", "J", "", "job name")
	fl.StringVar(&f.o.Name, "name", "", "job name")
	fl.StringVarP(&f.o.Output, "output", "o", "", "output file pattern (%j %A %a %u %x %N)")
	fl.StringVarP(&f.o.Partition, "partition", "p", "", "partition")
	fl.BoolVar(&f.greenest, "when-greenest", false, "begin at the lowest-carbon start within --deadline (bmcctld picks it)")
	fl.StringVar(&f.deadline, "deadline", "", `with --when-greenest: the latest start, from now, e.g. "8h"`)
	fl.BoolVarP(&f.help, "help", "h", false, "help for bmcsubmit")
	fl.BoolVarP(&f.version, "version", "v", false, "print the version")
	return fl
}

// Run is bmcsubmit with args (without the program name).
func Run(ctx context.Context, env cli.Env, args []string) error {
	var f flags
	fl := newFlagSet(&f)
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			f.help = true
		} else {
			return err
		}
	}
	switch {
	case f.help:
		_, err := io.WriteString(env.Stdout, usage+fl.FlagUsages())
		return err
	case f.version:
		_, err := fmt.Fprintln(env.Stdout, "bmcsubmit version "+buildinfo.Version())
		return err
	case fl.NArg() != 1:
		return fmt.Errorf("want one job file, got %d arguments (bmcsubmit [flags] JOB.toml; --help for more)", fl.NArg())
	}
	return submit(ctx, env, &f, fl.Arg(0))
}
