package pid1

import (
	"testing"
	"time"
)

// waitBeat returns at the beat, or at the first poll that finds the job's
// state changed; polls that find nothing new do not end the wait.
func TestWaitBeat(t *testing.T) {
	for _, tc := range []struct {
		name    string
		polls   []bool // what changed answers at each poll, in order
		beat    bool   // the beat fires after the polls
		wantPol int    // polls consumed before returning
	}{
		{"beat", nil, true, 0},
		{"command ended", []bool{false, false, true}, false, 3},
		{"nothing changed until the beat", []bool{false, false}, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			beat, poll := make(chan time.Time, 1), make(chan time.Time, len(tc.polls))
			for range tc.polls {
				poll <- time.Time{}
			}
			asked := 0
			changed := func() bool {
				asked++
				if asked == len(tc.polls) && tc.beat {
					beat <- time.Time{} // the beat comes after the last poll
				}
				return tc.polls[asked-1]
			}
			if tc.beat && len(tc.polls) == 0 {
				beat <- time.Time{}
			}
			done := make(chan struct{})
			go func() { waitBeat(beat, poll, changed); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("waitBeat did not return")
			}
			if asked != tc.wantPol {
				t.Errorf("polls consumed %d, want %d", asked, tc.wantPol)
			}
		})
	}
}
