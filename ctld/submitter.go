package ctld

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/joboutput"
)

// checkSubmitter holds the parts of a submit that depend on who submits,
// which the job package cannot know: the working directory the client
// sends, and running the command as root inside the image, which only
// admins and the users an admin lists (--image-root-users) may ask for;
// output paths that already exist as something other than a regular file.
func (c *Controller) checkSubmitter(who Identity, spec *job.Spec, cwd string) error {
	if strings.ContainsFunc(cwd, unicode.IsControl) {
		return fmt.Errorf("%w: cwd: %q must not contain control characters", ErrInvalid, cwd)
	}
	if len(cwd) > job.MaxPathLen {
		return fmt.Errorf("%w: cwd: longer than %d bytes", ErrInvalid, job.MaxPathLen)
	}
	if spec.RunAs == "root" || strings.Trim(spec.RunAs, "0") == "" && spec.RunAs != "" {
		if !who.Admin && who.UID != 0 && !slices.Contains(c.cfg.ImageRootUsers, who.User) {
			return fmt.Errorf("%w: user: %q is for admins and the users bmcctld --image-root-users lists", ErrInvalid, spec.RunAs)
		}
	}
	if err := joboutput.CheckSubmit(spec, cwd, who.UID, who.GID); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}
