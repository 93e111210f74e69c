// Package bmcsubmit is the bmcsubmit command: it sends a job file to
// bmcctld, which parses, checks and queues it, and prints the job id; with
// --wait it follows the job to its end.
//
// bmcsubmit starts once per job, often in shell loops, so it imports no
// job-file parser, no image-reference code and no HTTP: it speaks the plain
// protocol of api/wire, and the daemon's errors still name the file, line
// and field. Keep it that way (go list -deps ./cmd/bmcsubmit).
package bmcsubmit

import (
	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/buildinfo"
	"github.com/bmc-sched/bmc/cli"
)

type flags struct {
	socket   string
	parsable bool
	wait     bool
	o        wire.Overrides
}

// NewCommand builds bmcsubmit.
func NewCommand(env cli.Env) *cobra.Command {
	var f flags
	cmd := &cobra.Command{
		Use:   "bmcsubmit [flags] JOB.toml",
		Short: "Submit a bare-metal job: its image, kernel and command, to the bmc queue",
		Long: `bmcsubmit submits a job file to bmcctld and prints the job id. bmcctld
checks the file; a problem is one line naming the file, line and field.
Flags override the file's fields. With --wait it follows the job to its end
and exits with the job's exit status.`,
		Version: buildinfo.Version(),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return submit(cmd.Context(), env, &f, args[0])
		},
	}
	fl := cmd.Flags()
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
	return cmd
}
