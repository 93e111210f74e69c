package ctld

import (
	"context"
	"sync"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
)

// passGapFactor is how many times its own run time a scheduling pass pauses
// before a wake-up may start the next one.
const passGapFactor = 4

// runPasses paces scheduling passes: one at once, one every interval, and
// one soon after a wake-up. Wake-ups that arrive while a pass runs or
// pauses coalesce into one pending pass (wake holds one token), so a stream
// of submits costs one pass per pause, not one per submit.
//
// After a wake-up the loop pauses passGapFactor × the last pass's own run
// time, which keeps passes under a fifth of a core while a new job waits at
// most a few pass lengths, and at least minGap: a pass that costs next to
// nothing still has fixed costs (the controller's lock, the fair-share and
// budget snapshot), and 16 API clients woke hundreds of them a second. The
// pause never exceeds interval, the gap a pass would have had without any
// wake-up: a pass that was slow once (or whose run time was mismeasured)
// must not stop scheduling for minutes.
func runPasses(ctx context.Context, clk clock.Clock, wake <-chan struct{}, interval, minGap time.Duration,
	pass func(context.Context) time.Duration) {
	for {
		own := pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-wake:
			if gap := min(max(passGapFactor*own, minGap), interval); gap > 0 {
				select {
				case <-ctx.Done():
					return
				case <-clk.After(gap):
				}
			}
		case <-clk.After(interval):
		}
	}
}

// passTimer measures a pass's own run time: the time it works, with or
// without the global lock, but not the time it waits to get that lock. A
// bulk action holding the lock for a minute made the pass that waited
// behind it look a minute long, and the pause after it four minutes long.
type passTimer struct {
	clk   clock.Clock
	from  time.Time
	spent time.Duration
}

func startPassTimer(clk clock.Clock) *passTimer {
	return &passTimer{clk: clk, from: clk.Now()}
}

// lock takes l without counting the wait.
func (t *passTimer) lock(l sync.Locker) {
	now := t.clk.Now()
	t.spent += now.Sub(t.from)
	l.Lock()
	t.from = t.clk.Now()
}

// own is the run time so far.
func (t *passTimer) own() time.Duration {
	return t.spent + t.clk.Now().Sub(t.from)
}
