package accounting

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bmc-sched/bmc/job"
)

// AppKey names a job's application the way `bmcq acct --compare` does: the
// digest the image reference carries (an OCI index digest, the same on every
// architecture), else the reference, and the command line. The ledger's
// image digest cannot serve: it is the root file system one platform booted,
// so it differs between architectures.
func AppKey(image, command string) [2]string {
	if _, d, ok := strings.Cut(image, "@"); ok && strings.Contains(d, ":") {
		return [2]string{d, command}
	}
	return [2]string{image, command}
}

// KindEnergy is one machine kind's record for one application: its
// completed runs and the joules they used.
type KindEnergy struct {
	Kind   string
	Runs   int
	Joules float64 // the sum over the runs
}

// Mean is the joules of an average run.
func (k KindEnergy) Mean() float64 { return k.Joules / float64(k.Runs) }

// KindHistory sums ledger entries, fed in ledger order, into each
// application's energy per machine kind. As in `bmcq acct --compare`, a job
// counts once it completed; its energy is every boot it was billed for and
// its kind the one of its last entry. The zero value is ready to use.
type KindHistory struct {
	jobs  map[uint64]*jobKind
	order []uint64
}

type jobKind struct {
	app       [2]string
	kind      string
	joules    float64
	completed bool
}

// Add counts one entry.
func (h *KindHistory) Add(e *Entry) {
	if h.jobs == nil {
		h.jobs = map[uint64]*jobKind{}
	}
	s := h.jobs[e.Job]
	if s == nil {
		s = &jobKind{}
		h.jobs[e.Job] = s
		h.order = append(h.order, e.Job)
	}
	// Entries come by boot then phase, so the last one names the kind.
	s.app, s.kind = AppKey(e.Image, e.Command), e.Kind
	s.joules += e.Joules
	s.completed = s.completed || e.State == job.Completed
}

// Means returns, per application, its machine kinds from the fewest mean
// joules per completed run to the most (ties by kind name).
func (h *KindHistory) Means() map[[2]string][]KindEnergy {
	byApp := map[[2]string][]KindEnergy{}
	for _, id := range h.order {
		s := h.jobs[id]
		if !s.completed || s.kind == "" {
			continue
		}
		ks := byApp[s.app]
		i := slices.IndexFunc(ks, func(k KindEnergy) bool { return k.Kind == s.kind })
		if i < 0 {
			ks = append(ks, KindEnergy{Kind: s.kind})
			i = len(ks) - 1
		}
		ks[i].Runs++
		ks[i].Joules += s.joules
		byApp[s.app] = ks
	}
	for _, ks := range byApp {
		slices.SortFunc(ks, func(a, b KindEnergy) int {
			return cmp.Or(cmp.Compare(a.Mean(), b.Mean()), strings.Compare(a.Kind, b.Kind))
		})
	}
	return byApp
}

// PreferReason says why the first kind is preferred, against the
// runner-up; ks holds at least two kinds, best first.
func PreferReason(ks []KindEnergy) string {
	best, next := ks[0], ks[1]
	runs := "1 run"
	if best.Runs != 1 {
		runs = strconv.Itoa(best.Runs) + " runs"
	}
	return fmt.Sprintf("energy: %s used %s J on average for this image and command (%s) vs %s J on %s",
		best.Kind, thousands(best.Mean()), runs, thousands(next.Mean()), next.Kind)
}

// thousands prints whole joules with comma separators: 12,345.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
