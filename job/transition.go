package job

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Cause says who or what moves a job from one state to another. Each event
// in a job's history records its cause.
type Cause string

const (
	// CauseScheduler: a scheduling pass gave the job a node.
	CauseScheduler Cause = "scheduler"
	// CauseLifecycle: the job's own life cycle on its node — a boot step,
	// the command's end, the power-off done, a failed boot.
	CauseLifecycle Cause = "lifecycle"
	// CauseUser: the job's owner (cancel, hold, release, requeue).
	CauseUser Cause = "user"
	// CauseAdmin: root or a member of the admin group acting on the job.
	CauseAdmin Cause = "admin"
	// CauseReconciler: the controller's reconciler, which acts on what it
	// observes — a node agent that went silent, a life cycle that stalled.
	CauseReconciler Cause = "reconciler"
	// CauseRecovery: bmcctld restarted and reconciles each unfinished job
	// with what its machine says.
	CauseRecovery Cause = "recovery"
)

// AllCauses lists every cause.
var AllCauses = []Cause{CauseScheduler, CauseLifecycle, CauseUser, CauseAdmin, CauseReconciler, CauseRecovery}

// ErrTransition is what every *TransitionError matches with errors.Is.
var ErrTransition = errors.New("state transition not allowed")

// TransitionError is a change of state the transition table does not allow.
type TransitionError struct {
	Job      uint64 // 0 when not known
	From, To State
	Cause    Cause
}

func (e *TransitionError) Error() string {
	who := ""
	if e.Job != 0 {
		who = fmt.Sprintf("job %d: ", e.Job)
	}
	return fmt.Sprintf("%s%s → %s by %s: %v", who, e.From, e.To, e.Cause, ErrTransition)
}

// Is makes errors.Is(err, ErrTransition) hold.
func (e *TransitionError) Is(target error) bool { return target == ErrTransition }

// Rule is one row of the transition table: a job in any of From may move to
// any of To when one of Causes asks.
type Rule struct {
	From   []State
	To     []State
	Causes []Cause
	Why    string
}

var (
	owner   = []Cause{CauseUser, CauseAdmin}
	booting = []State{Allocated, PoweringOn, Booting}
	onNode  = []State{Allocated, PoweringOn, Booting, Running}
	active  = []State{Allocated, PoweringOn, Booting, Running, PoweringOff}
	final   = []State{Completed, Failed, Cancelled, Timeout, BootFail, NodeFail}
)

// rules is the job life cycle as data. Whatever is not here is refused; the
// controller has one function that checks it and commits the change.
var rules = []Rule{
	{[]State{Pending}, []State{Allocated}, []Cause{CauseScheduler}, "a scheduling pass gives it a node"},
	{[]State{Pending}, []State{Held}, owner, "hold"},
	{[]State{Held}, []State{Pending}, owner, "release"},
	{[]State{Pending, Held}, []State{Cancelled}, owner, "cancel before it has a node"},
	{[]State{Allocated}, []State{PoweringOn}, []Cause{CauseLifecycle}, "its boot is prepared; the BMC is asked to power on"},
	{[]State{PoweringOn}, []State{Booting}, []Cause{CauseLifecycle}, "the machine is on"},
	{[]State{Booting}, []State{Running}, []Cause{CauseLifecycle}, "the node agent is ready; the command starts"},
	{[]State{Allocated}, []State{Failed}, []Cause{CauseLifecycle}, "the job names something that cannot boot (output file, image, kernel)"},
	{booting, []State{Pending, BootFail}, []Cause{CauseLifecycle}, "a boot failed: another try (BootRetry), or BOOT_FAIL after the last"},
	{[]State{PoweringOn, Booting}, []State{Allocated}, []Cause{CauseRecovery, CauseReconciler}, "its boot was interrupted: power-cycle and boot again"},
	{onNode, []State{PoweringOff}, []Cause{CauseLifecycle, CauseUser, CauseAdmin, CauseReconciler, CauseRecovery},
		"the command ended, or a cancel, requeue or node failure stops it; the outcome is recorded"},
	{[]State{PoweringOff}, []State{Completed, Failed, Cancelled, Timeout, NodeFail, Pending}, []Cause{CauseLifecycle},
		"the machine is off: the recorded outcome, or back to the queue for a requeue"},
	{active, []State{NodeFail}, []Cause{CauseRecovery, CauseReconciler}, "its node is gone from the configuration"},
	{final, []State{Pending}, owner, "requeue of an ended job"},
}

type edge struct {
	from, to State
	by       Cause
}

var allowed = func() map[edge]bool {
	m := map[edge]bool{}
	for _, r := range rules {
		for _, f := range r.From {
			for _, t := range r.To {
				for _, c := range r.Causes {
					m[edge{f, t, c}] = true
				}
			}
		}
	}
	return m
}()

// Rules returns the transition table, one row per rule, in the order the
// life cycle reads.
func Rules() []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = Rule{From: slices.Clone(r.From), To: slices.Clone(r.To), Causes: slices.Clone(r.Causes), Why: r.Why}
	}
	return out
}

// Allowed reports whether by may move a job from one state to another.
func Allowed(from, to State, by Cause) bool { return allowed[edge{from, to, by}] }

// CheckTransition returns a *TransitionError unless the table allows the change.
func CheckTransition(from, to State, by Cause) error {
	if Allowed(from, to, by) {
		return nil
	}
	return &TransitionError{From: from, To: to, Cause: by}
}

// TransitionTable renders the table as Markdown, as the README shows it.
func TransitionTable() string {
	var b strings.Builder
	b.WriteString("| from | to | caused by | when |\n|---|---|---|---|\n")
	join := func(ss []State) string {
		parts := make([]string, len(ss))
		for i, s := range ss {
			parts[i] = string(s)
		}
		return strings.Join(parts, ", ")
	}
	for _, r := range rules {
		causes := make([]string, len(r.Causes))
		for i, c := range r.Causes {
			causes[i] = string(c)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", join(r.From), join(r.To), strings.Join(causes, ", "), r.Why)
	}
	return b.String()
}
