package job

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTransitionTableGolden pins the table, so a change to the life cycle
// shows as a readable diff, and checks that the README shows the same table.
func TestTransitionTableGolden(t *testing.T) {
	got := TransitionTable()
	path := filepath.Join("testdata", "transitions.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("transition table changed; run with -update and read the diff:\n%s", got)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), got) {
		t.Errorf("README.md does not show the transition table as job.TransitionTable renders it:\n%s", got)
	}
}

// TestCheckTransitionEveryPair asks about every (from, to, cause): the answer
// is the table's, and a refusal is a *TransitionError that errors.Is
// ErrTransition and names the change.
func TestCheckTransitionEveryPair(t *testing.T) {
	inTable := map[edge]bool{}
	for _, r := range Rules() {
		for _, f := range r.From {
			for _, to := range r.To {
				for _, c := range r.Causes {
					inTable[edge{f, to, c}] = true
				}
			}
		}
	}
	n := 0
	for _, from := range AllStates {
		for _, to := range AllStates {
			for _, by := range AllCauses {
				err := CheckTransition(from, to, by)
				if inTable[edge{from, to, by}] {
					n++
					if err != nil {
						t.Errorf("%s → %s by %s: %v, want allowed", from, to, by, err)
					}
					continue
				}
				var te *TransitionError
				if !errors.As(err, &te) || !errors.Is(err, ErrTransition) {
					t.Errorf("%s → %s by %s: %v, want a *TransitionError", from, to, by, err)
					continue
				}
				if te.From != from || te.To != to || te.Cause != by {
					t.Errorf("error names %s → %s by %s, want %s → %s by %s", te.From, te.To, te.Cause, from, to, by)
				}
			}
		}
	}
	if n != len(inTable) || n == 0 {
		t.Errorf("%d allowed edges found, table has %d", n, len(inTable))
	}
}

// TestTransitionTableShape checks what the life cycle promises users.
func TestTransitionTableShape(t *testing.T) {
	for _, r := range Rules() {
		for _, s := range append(slices.Clone(r.From), r.To...) {
			if !slices.Contains(AllStates, s) {
				t.Errorf("rule %q names unknown state %q", r.Why, s)
			}
		}
		for _, c := range r.Causes {
			if !slices.Contains(AllCauses, c) {
				t.Errorf("rule %q names unknown cause %q", r.Why, c)
			}
		}
	}
	for _, s := range AllStates {
		for _, by := range AllCauses {
			if Allowed(s, s, by) {
				t.Errorf("%s → %s by %s: a transition must change the state", s, s, by)
			}
			for _, to := range AllStates {
				// An ended job only goes back to the queue, and only when
				// its owner or an admin asks.
				if s.Final() && Allowed(s, to, by) && (to != Pending || (by != CauseUser && by != CauseAdmin)) {
					t.Errorf("final %s → %s by %s is allowed", s, to, by)
				}
				// Only the scheduler hands out nodes.
				if to == Allocated && s.Waiting() && Allowed(s, to, by) && by != CauseScheduler {
					t.Errorf("%s → ALLOCATED by %s is allowed", s, by)
				}
			}
		}
	}
	// Every state is reachable from PENDING, and from every state that is
	// not final the life cycle can reach a final state.
	reach := func(from State, causes []Cause) map[State]bool {
		seen := map[State]bool{from: true}
		for todo := []State{from}; len(todo) > 0; {
			s := todo[0]
			todo = todo[1:]
			for _, to := range AllStates {
				for _, by := range causes {
					if !seen[to] && Allowed(s, to, by) {
						seen[to] = true
						todo = append(todo, to)
					}
				}
			}
		}
		return seen
	}
	all := reach(Pending, AllCauses)
	for _, s := range AllStates {
		if !all[s] {
			t.Errorf("%s is not reachable from PENDING", s)
		}
	}
	// A user's cancel ends every job that is not already ending: waiting
	// jobs at once, jobs on a node through POWERING_OFF.
	for _, s := range AllStates {
		if s.Final() || s == PoweringOff {
			continue
		}
		r := reach(s, []Cause{CauseUser, CauseLifecycle})
		if !r[Cancelled] {
			t.Errorf("a user cannot cancel a %s job", s)
		}
	}
	if Allowed(PoweringOff, Cancelled, CauseUser) {
		t.Error("a user may cancel a job that is powering off; its outcome is already recorded")
	}
}
