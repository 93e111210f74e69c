package accounting

import (
	"testing"
	"time"

	"github.com/bmc-sched/bmc/job"
)

func TestPhasesOfEventLog(t *testing.T) {
	at := func(s int) time.Time { return at(float64(s)) }
	ev := func(s int, st job.State) job.Event { return job.Event{Time: at(s), State: st} }
	for _, tc := range []struct {
		name             string
		events           []job.Event
		end              int
		boot, run, off   [2]int
		wantRan, wantOff bool
	}{
		{"completed", []job.Event{ev(0, job.Pending), ev(1, job.Allocated), ev(2, job.PoweringOn), ev(3, job.Booting), ev(10, job.Running), ev(40, job.PoweringOff)},
			42, [2]int{2, 10}, [2]int{10, 40}, [2]int{40, 42}, true, true},
		{"failed boot", []job.Event{ev(2, job.PoweringOn), ev(3, job.Booting)}, 30, [2]int{2, 30}, [2]int{30, 30}, [2]int{30, 30}, false, false},
		{"cancelled while booting", []job.Event{ev(2, job.PoweringOn), ev(3, job.Booting), ev(8, job.PoweringOff)}, 9, [2]int{2, 8}, [2]int{8, 8}, [2]int{8, 9}, false, true},
		{"second boot after a requeue", []job.Event{ev(2, job.PoweringOn), ev(4, job.Running), ev(6, job.PoweringOff), ev(7, job.Pending),
			ev(8, job.Allocated), ev(9, job.PoweringOn), ev(12, job.Running), ev(20, job.PoweringOff)}, 21, [2]int{9, 12}, [2]int{12, 20}, [2]int{20, 21}, true, true},
		{"clock stepped back: edges clamped", []job.Event{ev(10, job.PoweringOn), ev(8, job.Running), ev(20, job.PoweringOff)}, 15,
			[2]int{10, 10}, [2]int{10, 20}, [2]int{20, 20}, true, true},
		{"never powered on", []job.Event{ev(0, job.Pending), ev(1, job.Allocated)}, 5, [2]int{5, 5}, [2]int{5, 5}, [2]int{5, 5}, false, false},
		{"lost while running", []job.Event{ev(2, job.PoweringOn), ev(5, job.Running)}, 50, [2]int{2, 5}, [2]int{5, 50}, [2]int{50, 50}, true, false},
	} {
		p, ran, off := PhasesOf(tc.events, at(tc.end))
		got := [][2]time.Time{{p.PowerOn, p.RunStart}, {p.RunStart, p.RunEnd}, {p.RunEnd, p.OffConfirmed}}
		for i, w := range [][2]int{tc.boot, tc.run, tc.off} {
			if !got[i][0].Equal(at(w[0])) || !got[i][1].Equal(at(w[1])) {
				t.Errorf("%s: phase %d = %s..%s, want %ds..%ds", tc.name, i, got[i][0].Sub(base), got[i][1].Sub(base), w[0], w[1])
			}
		}
		if ran != tc.wantRan || off != tc.wantOff {
			t.Errorf("%s: ran %v off %v", tc.name, ran, off)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
