package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

type submitFlags struct {
	socket     string
	parsable   bool
	wait       bool
	array      string
	dependency string
	hold       bool
	time       string
	account    string
	name       string
	output     string
	partition  string
}

// NewSubmitCommand builds bmcsubmit.
func NewSubmitCommand(env Env) *cobra.Command {
	var f submitFlags
	cmd := &cobra.Command{
		Use:   "bmcsubmit [flags] JOB.toml",
		Short: "Submit a bare-metal job: its image, kernel and command, to the bmc queue",
		Long: `bmcsubmit checks a job file, submits it to bmcctld and prints the job id.
Flags override the file's fields. With --wait it follows the job to its end
and exits with the job's exit status.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return submit(cmd.Context(), env, &f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.socket, "socket", "", "bmcctld socket (default $BMC_SOCKET or "+api.DefaultSocket+")")
	fl.BoolVar(&f.parsable, "parsable", false, "print only the job id")
	fl.BoolVarP(&f.wait, "wait", "W", false, "wait for the job to end; exit with its exit status")
	fl.StringVarP(&f.array, "array", "a", "", `job array, e.g. "1-100%10"`)
	fl.StringVarP(&f.dependency, "dependency", "d", "", `dependencies, e.g. "afterok:12,afterany:13"`)
	fl.BoolVarP(&f.hold, "hold", "H", false, "submit held")
	fl.StringVarP(&f.time, "time", "t", "", `time limit, e.g. "30", "1:00:00", "2h"`)
	fl.StringVarP(&f.account, "account", "A", "", "account to bill")
	fl.StringVarP(&f.name, "job-name", "J", "", "job name")
	fl.StringVar(&f.name, "name", "", "job name")
	fl.StringVarP(&f.output, "output", "o", "", "output file pattern (%j %A %a %u %x %N)")
	fl.StringVarP(&f.partition, "partition", "p", "", "partition")
	return cmd
}

func submit(ctx context.Context, env Env, f *submitFlags, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%s: %w", file, errors.Unwrap(err))
	}
	spec, err := job.Parse(file, data)
	if err != nil {
		return fileError{err}
	}
	if err := applyFlags(spec, f); err != nil {
		return err
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	c := client(env, f.socket)
	resp, err := c.Submit(ctx, api.SubmitRequest{Spec: *spec, Cwd: env.Cwd, File: file})
	if err != nil {
		return err
	}
	id := resp.IDs[0]
	if resp.ArrayJobID != 0 {
		id = resp.ArrayJobID
	}
	if f.parsable {
		fmt.Fprintln(env.Stdout, id)
	} else {
		fmt.Fprintf(env.Stdout, "Submitted job %d\n", id)
	}
	if !f.wait {
		return nil
	}
	return waitAll(ctx, env, c, resp.IDs)
}

func applyFlags(s *job.Spec, f *submitFlags) error {
	if f.array != "" {
		a, err := job.ParseArray(f.array)
		if err != nil {
			return fmt.Errorf("--array: %w", err)
		}
		s.Array = &a
		if !strings.Contains(s.Output, "%a") && (s.Output == "" || s.Output == "bmc-%j.out") {
			s.Output = "bmc-%A_%a.out"
		}
	}
	if f.dependency != "" {
		s.DependsOn = nil
		for _, part := range strings.Split(f.dependency, ",") {
			d, err := job.ParseDependency(part)
			if err != nil {
				return fmt.Errorf("--dependency: %w", err)
			}
			s.DependsOn = append(s.DependsOn, d...)
		}
	}
	if f.hold {
		s.Hold = true
	}
	if f.time != "" {
		d, err := job.ParseDuration(f.time)
		if err != nil {
			return fmt.Errorf("--time: %w", err)
		}
		s.TimeLimit = job.Duration(d)
	}
	if f.account != "" {
		s.Account = f.account
	}
	if f.name != "" {
		s.Name = f.name
	}
	if f.output != "" {
		s.Output = f.output
	}
	if f.partition != "" {
		s.Partition = f.partition
	}
	return nil
}

// waitAll follows every task to its end, showing each phase, and returns
// an ExitError with the highest exit status (as sbatch --wait does).
func waitAll(ctx context.Context, env Env, c *api.Client, ids []uint64) error {
	worst, failed := 0, ""
	for _, id := range ids {
		d, err := follow(ctx, env, c, id)
		if err != nil {
			return err
		}
		code := d.ExitCode
		if d.State != job.Completed && code == 0 {
			code = 1
		}
		if code > worst {
			worst = code
		}
		if d.State != job.Completed && failed == "" {
			failed = fmt.Sprintf("job %s ended %s", d.JobID, d.State)
			if d.Detail != "" {
				failed += ": " + d.Detail
			}
		}
	}
	if worst != 0 {
		return &ExitError{Code: worst, Msg: "bmcsubmit: " + failed}
	}
	return nil
}

func follow(ctx context.Context, env Env, c *api.Client, id uint64) (api.JobDetail, error) {
	var last job.State
	for {
		d, err := c.WaitChange(ctx, id, string(last))
		if err != nil {
			return d, err
		}
		if d.State != last {
			showPhase(env, d)
			last = d.State
		}
		if d.State.Final() {
			if env.IsTerminal {
				fmt.Fprintln(env.Stderr)
			}
			return d, nil
		}
		if err := ctx.Err(); err != nil {
			return d, err
		}
	}
}

func showPhase(env Env, d api.JobDetail) {
	line := fmt.Sprintf("job %s: %s", d.JobID, d.State)
	if d.Node != "" {
		line += " on " + d.Node
		if d.Simulated {
			line += " (simulated)"
		}
	}
	if d.State.Waiting() && d.Reason != "" && d.Reason != string(job.ReasonNone) {
		line += " (" + d.Reason + ")"
	}
	if d.State.Final() {
		line += fmt.Sprintf(", exit %d", d.ExitCode)
		if d.Detail != "" {
			line += ": " + d.Detail
		}
	}
	if env.IsTerminal {
		fmt.Fprintf(env.Stderr, "\r\033[K%s %s", time.Now().Format("15:04:05"), line)
		return
	}
	fmt.Fprintln(env.Stderr, line)
}
