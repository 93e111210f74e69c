package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// ShellLoops runs `loops` bash for-loops at once in dir, each running argv
// n times with its output discarded, and returns the wall time of all: how
// users run a command many times, process start-up included.
func ShellLoops(ctx context.Context, dir string, env []string, loops, n int, argv ...string) (time.Duration, error) {
	script := `for i in $(seq 1 ` + strconv.Itoa(n) + `); do "$@" >/dev/null || exit 1; done`
	cmds := make([]*exec.Cmd, loops)
	for i := range cmds {
		cmds[i] = exec.CommandContext(ctx, "bash", append([]string{"-c", script, "loop"}, argv...)...)
		cmds[i].Dir = dir
		cmds[i].Env = append(os.Environ(), env...)
		cmds[i].Stderr = os.Stderr
	}
	t0 := time.Now()
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			return 0, err
		}
	}
	var errs []error
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("%s loop: %w", argv[0], err))
		}
	}
	return time.Since(t0), errors.Join(errs...)
}
