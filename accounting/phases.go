package accounting

import (
	"fmt"
	"sort"
	"time"
)

// Phase is one billed stretch of a job's life on a node.
type Phase string

const (
	Boot Phase = "boot" // power on until the job's command starts
	Run  Phase = "run"  // the command runs
	Off  Phase = "off"  // the command ended until the BMC confirms power off
)

// Phases are the boundaries of a job's phases on one node. A job that never
// ran (boot failed) has RunStart == RunEnd: a zero-length run phase.
type Phases struct {
	PowerOn      time.Time `json:"power_on"`
	RunStart     time.Time `json:"run_start"`
	RunEnd       time.Time `json:"run_end"`
	OffConfirmed time.Time `json:"off_confirmed"`
}

// Validate checks that the boundaries are set and in order.
func (p Phases) Validate() error {
	b := []struct {
		name string
		t    time.Time
	}{{"power on", p.PowerOn}, {"run start", p.RunStart}, {"run end", p.RunEnd}, {"off confirmed", p.OffConfirmed}}
	for i, x := range b {
		if x.t.IsZero() {
			return fmt.Errorf("%w: %s is not set", ErrPhaseOrder, x.name)
		}
		if i > 0 && x.t.Before(b[i-1].t) {
			return fmt.Errorf("%w: %s (%s) is before %s (%s)", ErrPhaseOrder, x.name, stamp(x.t), b[i-1].name, stamp(b[i-1].t))
		}
	}
	return nil
}

// Window returns the time window of one phase.
func (p Phases) Window(ph Phase) (from, to time.Time, err error) {
	switch ph {
	case Boot:
		return p.PowerOn, p.RunStart, nil
	case Run:
		return p.RunStart, p.RunEnd, nil
	case Off:
		return p.RunEnd, p.OffConfirmed, nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("%w: unknown phase %q", ErrWindow, ph)
}

// PhaseResult is a job's energy per phase. Total.Joules is exactly
// Boot.Joules + Run.Joules + Off.Joules.
type PhaseResult struct {
	Boot  Result `json:"boot"`
	Run   Result `json:"run"`
	Off   Result `json:"off"`
	Total Result `json:"total"`
}

// Phase returns the result of one phase.
func (r PhaseResult) Phase(ph Phase) Result {
	switch ph {
	case Boot:
		return r.Boot
	case Run:
		return r.Run
	case Off:
		return r.Off
	}
	return Result{}
}

// IntegratePhases integrates one node's samples over each phase of a job.
func IntegratePhases(samples []Sample, p Phases, opt Options) (PhaseResult, error) {
	if err := p.Validate(); err != nil {
		return PhaseResult{}, err
	}
	var out PhaseResult
	for _, ph := range []Phase{Boot, Run, Off} {
		from, to, _ := p.Window(ph)
		r, err := Integrate(samples, from, to, opt)
		if err != nil {
			return PhaseResult{}, fmt.Errorf("%s phase: %w", ph, err)
		}
		switch ph {
		case Boot:
			out.Boot = r
		case Run:
			out.Run = r
		case Off:
			out.Off = r
		}
	}
	out.Total = total(out, p)
	lo := sort.Search(len(samples), func(i int) bool { return !samples[i].Time.Before(p.PowerOn) })
	hi := sort.Search(len(samples), func(i int) bool { return samples[i].Time.After(p.OffConfirmed) })
	// Counted once here: a reading on a phase boundary belongs to both
	// neighbouring phases.
	out.Total.Samples = max(hi-lo, 0)
	return out, nil
}

// total sums the phases of one node: the coverage is weighted by each
// phase's length.
func total(r PhaseResult, p Phases) Result {
	t := Result{
		Joules:    r.Boot.Joules + r.Run.Joules + r.Off.Joules,
		Estimated: r.Boot.Estimated || r.Run.Estimated || r.Off.Estimated,
		Method:    sameMethod(r.Boot.Method, r.Run.Method, r.Off.Method),
	}
	t.Reasons = append(t.Reasons, prefixed(string(Boot)+": ", r.Boot.Reasons)...)
	t.Reasons = append(t.Reasons, prefixed(string(Run)+": ", r.Run.Reasons)...)
	t.Reasons = append(t.Reasons, prefixed(string(Off)+": ", r.Off.Reasons)...)
	span := p.OffConfirmed.Sub(p.PowerOn).Seconds()
	if span <= 0 {
		t.Coverage = 1
		return t
	}
	// Weighting what is uncovered keeps a fully measured job at exactly 1.
	uncovered := (1-r.Boot.Coverage)*p.RunStart.Sub(p.PowerOn).Seconds() +
		(1-r.Run.Coverage)*p.RunEnd.Sub(p.RunStart).Seconds() +
		(1-r.Off.Coverage)*p.OffConfirmed.Sub(p.RunEnd).Seconds()
	t.Coverage = min(max(1-uncovered/span, 0), 1)
	return t
}

func sameMethod(ms ...Method) Method {
	if len(ms) == 0 {
		return MethodNone
	}
	for _, m := range ms[1:] {
		if m != ms[0] {
			return MethodMixed
		}
	}
	return ms[0]
}

func prefixed(p string, rs []string) []string {
	if len(rs) == 0 {
		return nil
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = p + r
	}
	return out
}

// WithReasonPrefix returns r with every reason prefixed, e.g. by the node
// name before summing the nodes of a job.
func (r PhaseResult) WithReasonPrefix(p string) PhaseResult {
	r.Boot.Reasons = prefixed(p, r.Boot.Reasons)
	r.Run.Reasons = prefixed(p, r.Run.Reasons)
	r.Off.Reasons = prefixed(p, r.Off.Reasons)
	r.Total.Reasons = prefixed(p, r.Total.Reasons)
	return r
}

// Sum adds the results of a job's nodes. Joules, samples and reasons add up;
// the coverage is the worst node's, since one badly measured node is what a
// bill must admit to.
func Sum(results ...PhaseResult) PhaseResult {
	var out PhaseResult
	pick := []func(*PhaseResult) *Result{
		func(p *PhaseResult) *Result { return &p.Boot },
		func(p *PhaseResult) *Result { return &p.Run },
		func(p *PhaseResult) *Result { return &p.Off },
		func(p *PhaseResult) *Result { return &p.Total },
	}
	for _, f := range pick {
		rs := make([]Result, len(results))
		for i := range results {
			rs[i] = *f(&results[i])
		}
		*f(&out) = sumResults(rs)
	}
	// Keep the invariant Total = Boot + Run + Off exactly, whatever the
	// order of additions above did to the last bits.
	out.Total.Joules = out.Boot.Joules + out.Run.Joules + out.Off.Joules
	return out
}

func sumResults(rs []Result) Result {
	if len(rs) == 0 {
		return Result{Method: MethodNone}
	}
	out := Result{Coverage: 1}
	ms := make([]Method, 0, len(rs))
	for _, r := range rs {
		out.Joules += r.Joules
		out.Estimated = out.Estimated || r.Estimated
		out.Reasons = append(out.Reasons, r.Reasons...)
		out.Samples += r.Samples
		out.Coverage = min(out.Coverage, r.Coverage)
		ms = append(ms, r.Method)
	}
	out.Method = sameMethod(ms...)
	return out
}
