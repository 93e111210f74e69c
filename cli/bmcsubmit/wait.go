package bmcsubmit

import (
	"context"
	"fmt"
	"time"

	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/cli"
)

// waitAll follows every task to its end, showing each phase, and returns
// an ExitError with the highest exit status (as sbatch --wait does).
func waitAll(ctx context.Context, env cli.Env, c *wire.Client, ids []uint64) error {
	worst, failed := 0, ""
	for _, id := range ids {
		js, err := follow(ctx, env, c, id)
		if err != nil {
			return err
		}
		code := js.ExitCode
		if !js.Completed && code == 0 {
			code = 1
		}
		worst = max(worst, code)
		if !js.Completed && failed == "" {
			failed = fmt.Sprintf("job %s ended %s", js.JobID, js.State)
			if js.Detail != "" {
				failed += ": " + js.Detail
			}
		}
	}
	if worst != 0 {
		return &cli.ExitError{Code: worst, Msg: "bmcsubmit: " + failed}
	}
	return nil
}

func follow(ctx context.Context, env cli.Env, c *wire.Client, id uint64) (wire.JobState, error) {
	var last string
	for {
		js, err := c.Wait(ctx, id, last)
		if err != nil {
			return js, err
		}
		if js.State != last {
			showPhase(env, js)
			last = js.State
		}
		if js.Final {
			if env.IsTerminal {
				fmt.Fprintln(env.Stderr)
			}
			return js, nil
		}
		if err := ctx.Err(); err != nil {
			return js, err
		}
	}
}

func showPhase(env cli.Env, js wire.JobState) {
	line := fmt.Sprintf("job %s: %s", js.JobID, js.State)
	if js.Node != "" {
		line += " on " + js.Node
		if js.Simulated {
			line += " (simulated)"
		}
	}
	if js.Waiting && js.Reason != "" {
		line += " (" + js.Reason + ")"
	}
	if js.Final {
		line += fmt.Sprintf(", exit %d", js.ExitCode)
		if js.Detail != "" {
			line += ": " + js.Detail
		}
	}
	line = cli.Printable(line) // the detail can come from the job's node
	if env.IsTerminal {
		now := time.Now
		if env.Now != nil {
			now = env.Now
		}
		fmt.Fprintf(env.Stderr, "\r\033[K%s %s", now().Format("15:04:05"), line)
		return
	}
	fmt.Fprintln(env.Stderr, line)
}
