package ctld

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/scheduler"
	"github.com/bmc-sched/bmc/store"
)

// kindEnergy is one machine kind's record for one application.
type kindEnergy struct {
	kind   string
	runs   int
	joules float64 // sum over the runs
}

func (k kindEnergy) mean() float64 { return k.joules / float64(k.runs) }

// appKey names a job's application the way `bmcq acct --compare` does:
// the digest the image reference carries (an OCI index digest, the same on
// every architecture), else the reference, and the command line. The
// ledger's image_digest cannot serve: it is the root filesystem one
// platform booted, so it differs between architectures.
func appKey(image, command string) [2]string {
	if _, d, ok := strings.Cut(image, "@"); ok && strings.Contains(d, ":") {
		return [2]string{d, command}
	}
	return [2]string{image, command}
}

// energyPrefer predicts, for each waiting job with arch = "any", the
// machine kind its application used the fewest mean joules on, from the
// completed runs in the ledger. A job whose application has run on fewer
// than two kinds gets nothing and keeps the normal order. The ledger is
// read only when such a job waits, once per pass (a pass with one costs a
// JSON decode per ledger entry). It reads the store and must be called
// without c.mu held.
func (c *Controller) energyPrefer(jobs []*job.Job) map[uint64]scheduler.Preference {
	var out map[uint64]scheduler.Preference
	var apps map[[2]string][]kindEnergy
	for _, j := range jobs {
		if j.State != job.Pending || j.Spec.Arch != job.ArchAny {
			continue
		}
		if apps == nil {
			var err error
			if apps, err = c.ledgerMeans(); err != nil {
				c.log.Error("read the ledger for arch=any placement", "err", err)
				return nil
			}
		}
		ks := apps[appKey(j.Spec.Image, commandLine(j.Spec.Command))]
		if len(ks) < 2 {
			continue
		}
		if out == nil {
			out = map[uint64]scheduler.Preference{}
		}
		out[j.ID] = scheduler.Preference{Kind: ks[0].kind, Reason: preferReason(ks)}
	}
	return out
}

// preferReason says why the first kind was chosen, against the runner-up.
func preferReason(ks []kindEnergy) string {
	best, next := ks[0], ks[1]
	runs := "1 run"
	if best.runs != 1 {
		runs = strconv.Itoa(best.runs) + " runs"
	}
	return fmt.Sprintf("energy: %s used %s J on average for this image and command (%s) vs %s J on %s",
		best.kind, thousands(best.mean()), runs, thousands(next.mean()), next.kind)
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

// ledgerMeans sums the ledger per job, keeps the jobs that completed, and
// groups them by application and machine kind. As in `bmcq acct
// --compare`, a job's energy is every boot it was billed for and its kind
// the one of its last entry.
func (c *Controller) ledgerMeans() (map[[2]string][]kindEnergy, error) {
	type jobSum struct {
		app       [2]string
		kind      string
		joules    float64
		completed bool
	}
	sums := map[uint64]*jobSum{}
	err := c.st.View(func(tx *store.Tx) error {
		lb := tx.Bucket(ledgerBucket)
		if lb == nil {
			return nil
		}
		return lb.ForEach(func(k, v []byte) error {
			var e api.LedgerEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("ledger entry %x: %w", k, err)
			}
			s := sums[e.Job]
			if s == nil {
				s = &jobSum{}
				sums[e.Job] = s
			}
			// Keys sort by boot then phase, so the last entry wins.
			s.app, s.kind = appKey(e.Image, e.Command), e.Kind
			s.joules += e.Joules
			s.completed = s.completed || e.State == job.Completed
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	byApp := map[[2]string]map[string]*kindEnergy{}
	for _, s := range sums {
		if !s.completed || s.kind == "" {
			continue
		}
		m := byApp[s.app]
		if m == nil {
			m = map[string]*kindEnergy{}
			byApp[s.app] = m
		}
		k := m[s.kind]
		if k == nil {
			k = &kindEnergy{kind: s.kind}
			m[s.kind] = k
		}
		k.runs++
		k.joules += s.joules
	}
	out := make(map[[2]string][]kindEnergy, len(byApp))
	for app, m := range byApp {
		ks := make([]kindEnergy, 0, len(m))
		for _, k := range m {
			ks = append(ks, *k)
		}
		slices.SortFunc(ks, func(a, b kindEnergy) int {
			if a.mean() != b.mean() {
				if a.mean() < b.mean() {
					return -1
				}
				return 1
			}
			return strings.Compare(a.kind, b.kind)
		})
		out[app] = ks
	}
	return out, nil
}
