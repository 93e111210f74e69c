package bmcq

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/cli"
)

// oneJob reads the single -j ID that what (a flag that works on one job)
// needs.
func oneJob(f *acctFlags, what string) (uint64, error) {
	if len(f.jobs) != 1 {
		return 0, fmt.Errorf("%s one job: give exactly one -j ID", what)
	}
	id, err := strconv.ParseUint(strings.SplitN(f.jobs[0], "_", 2)[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("-j %q is not a job id", f.jobs[0])
	}
	return id, nil
}

// disputeJob prints a job's kept readings (--samples) or its bill
// recomputed from them (--recompute).
func disputeJob(ctx context.Context, env cli.Env, c *api.Client, f *acctFlags, asJSON bool) error {
	id, err := oneJob(f, "--samples and --recompute read")
	if err != nil {
		return err
	}
	if f.samples {
		s, err := c.Samples(ctx, id)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(env.Stdout, s)
		}
		return RenderSamples(env.Stdout, s)
	}
	r, err := c.Recompute(ctx, id)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(env.Stdout, r)
	}
	return RenderRecompute(env.Stdout, r)
}

// RenderSamples prints each boot's readings: time, watts and, for a
// counter, its joules.
func RenderSamples(w io.Writer, s api.JobSamples) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row(tw, "BOOT", "NODE", "METER", "TIME", "WATTS", "COUNTER_J")
	n := 0
	for _, b := range s.Boots {
		meter := orDash(b.Meter)
		if b.RAPL {
			meter = "rapl-inband"
		}
		for _, x := range b.Samples {
			counter := "-"
			if x.Counter {
				counter = strconv.FormatFloat(x.Joules, 'f', 3, 64)
			}
			row(tw, strconv.FormatUint(b.Boot, 10), b.Node, meter, x.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
				strconv.FormatFloat(x.Watts, 'f', 1, 64), counter)
			n++
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	line(w, "%d readings of job %d (compacted: readings on a straight line between their neighbours are left out; every window's energy is unchanged)", n, s.Job)
	return nil
}

// RenderRecompute prints each ledger entry beside its recomputed bill.
func RenderRecompute(w io.Writer, r api.Recompute) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row(tw, "BOOT", "PHASE", "BILLED_J", "RECOMPUTED_J", "DIFF_J", "BILLED_COST", "RECOMPUTED_COST", "NOTE")
	differ := 0
	for _, e := range r.Entries {
		note := orDash(e.Missing)
		if e.Missing == "" && e.DiffJoules != 0 {
			differ++
		}
		row(tw, strconv.FormatUint(e.Boot, 10), e.Phase, joules(e.BilledJoules), joules(e.RecomputedJoules),
			strconv.FormatFloat(e.DiffJoules, 'f', 3, 64), money(e.BilledCost), money(e.RecomputedCost), note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if differ == 0 {
		line(w, "job %d: the recomputed bill matches the ledger", r.Job)
	} else {
		line(w, "job %d: %d entries differ from the ledger", r.Job, differ)
	}
	return nil
}
