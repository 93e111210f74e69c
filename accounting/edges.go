package accounting

import (
	"time"

	"github.com/bmc-sched/bmc/job"
)

// PhasesOf reads the phase edges of the job's latest boot from its event
// log: POWERING_ON starts the boot phase, RUNNING the run phase,
// POWERING_OFF the power-off phase, and end (the transition that ends the
// boot, or now for a boot in progress) closes it. A boot that never reached
// RUNNING has a zero-length run phase at the point it stopped. ran and off
// say whether the boot reached RUNNING and POWERING_OFF.
func PhasesOf(events []job.Event, end time.Time) (p Phases, ran, off bool) {
	start := -1
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].State == job.PoweringOn {
			start = i
			break
		}
	}
	p = Phases{PowerOn: end, RunStart: end, RunEnd: end, OffConfirmed: end}
	if start < 0 {
		return p, false, false
	}
	p.PowerOn = events[start].Time
	var runAt, offAt time.Time
	for _, e := range events[start+1:] {
		switch e.State {
		case job.Running:
			if !ran {
				ran, runAt = true, e.Time
			}
		case job.PoweringOff:
			if !off {
				off, offAt = true, e.Time
			}
		}
	}
	switch {
	case ran && off:
		p.RunStart, p.RunEnd = runAt, offAt
	case ran:
		p.RunStart = runAt
	case off:
		p.RunStart, p.RunEnd = offAt, offAt
	}
	// Clamp: edges from one clock are ordered, but never trust that with money.
	if p.RunStart.Before(p.PowerOn) {
		p.RunStart = p.PowerOn
	}
	if p.RunEnd.Before(p.RunStart) {
		p.RunEnd = p.RunStart
	}
	if p.OffConfirmed.Before(p.RunEnd) {
		p.OffConfirmed = p.RunEnd
	}
	return p, ran, off
}
