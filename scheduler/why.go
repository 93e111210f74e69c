package scheduler

// Why a job got its node, in the words bmcq shows.

import (
	"fmt"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

func (p *pass) why(j *job.Job, nd *node.Node) string {
	if p.res != nil {
		return fmt.Sprintf("backfill: node not needed by job %d's reservation at %s", p.res.job, p.fmtTime(p.res.at))
	}
	fit := fmt.Sprintf("best fit: %d/%d cores, %s spare, boot ~%s", max(j.Spec.Cores, 0), nd.Cores,
		fmtBytes(nd.Memory-int64(j.Spec.Memory)), fmtDur(nd.ExpectedBoot))
	if p.blocker != 0 {
		return fmt.Sprintf("%s; ahead of job %d, which cannot use this node", fit, p.blocker)
	}
	return fit
}

func (p *pass) fmtTime(t time.Time) string {
	t = t.In(p.now.Location())
	ny, nm, nd := p.now.Date()
	if y, m, d := t.Date(); y == ny && m == nm && d == nd {
		return t.Format(time.TimeOnly)
	}
	return t.Format(time.DateTime)
}

func fmtBytes(b int64) string {
	const (
		mib = 1 << 20
		gib = 1 << 30
	)
	switch {
	case b >= gib:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(b)/gib), ".0") + " GiB"
	case b >= mib:
		return fmt.Sprintf("%d MiB", b/mib)
	}
	return fmt.Sprintf("%d B", b)
}

// fmtDur shows a boot time the way people say it: 15s, 1m, 1m30s.
func fmtDur(d time.Duration) string {
	str := d.Round(time.Second).String()
	if strings.HasSuffix(str, "m0s") {
		str = strings.TrimSuffix(str, "0s")
	}
	if strings.HasSuffix(str, "h0m") {
		str = strings.TrimSuffix(str, "0m")
	}
	return str
}
