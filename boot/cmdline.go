package boot

import (
	"fmt"
	"strings"

	"github.com/bmc-sched/bmc/job"
)

// MaxCmdline bounds the job's part of the kernel command line; the kernel's
// own limit (2048 on x86) must also hold our parameters and the tokens.
const MaxCmdline = job.MaxCmdlineLen

// ValidateCmdline checks a kernel command line written by a user or an admin
// before it goes into a boot script; the rules are the job file's
// (job.ValidateCmdline), so a job is refused at submit, not after a machine
// was given to it.
func ValidateCmdline(s string) error {
	if err := job.ValidateCmdline(s); err != nil {
		return fmt.Errorf("%w: %w", ErrCmdline, err)
	}
	return nil
}

// joinCmdline joins non-empty parts with single spaces.
func joinCmdline(parts ...string) string {
	var out []string
	for _, p := range parts {
		out = append(out, strings.Fields(p)...)
	}
	return strings.Join(out, " ")
}
