package ctld

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/job"
)

// associate defines accounts, with alice and bob able to charge them all
// (the first is their default).
func (h *harness) associate(accounts ...assoc.Account) {
	h.t.Helper()
	var names []string
	for _, a := range accounts {
		if err := h.c.AddAccount(root, a); err != nil {
			h.t.Fatal(err)
		}
		names = append(names, a.Name)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := h.c.AddUser(root, assoc.User{Name: u, Accounts: names, DefaultAccount: names[0]}); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) trySubmit(who Identity, s job.Spec) (api.SubmitResponse, error) {
	return h.c.Submit(context.Background(), who, api.SubmitRequest{Spec: s, Cwd: h.dir})
}

func TestSubmitChargesAnAccountItsUserMay(t *testing.T) {
	h := newHarness(t, 1)
	s := simSpec(time.Second, 0)
	s.Account = "anything-goes"
	if _, err := h.trySubmit(alice, s); err != nil {
		t.Fatalf("open mode refused a free-text account: %v", err)
	}
	if a := h.c.Associations(); a.Mode != api.ModeOpen {
		t.Errorf("mode with no accounts: %+v", a)
	}
	if err := h.c.AddAccount(alice, assoc.Account{Name: "x"}); !errors.Is(err, ErrForbidden) {
		t.Errorf("alice added an account: %v", err)
	}
	for _, a := range []assoc.Account{{Name: "physics"}, {Name: "chemistry"}} {
		if err := h.c.AddAccount(root, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.c.AddUser(root, assoc.User{Name: "alice", Accounts: []string{"physics"}}); err != nil {
		t.Fatal(err)
	}
	if a := h.c.Associations(); a.Mode != api.ModeEnforced || !strings.Contains(a.Why, "2 accounts are defined") {
		t.Errorf("mode with accounts: %+v", a)
	}
	for _, tc := range []struct {
		name    string
		who     Identity
		account string
		want    string // the account charged, or the error
	}{
		{"a member names her account", alice, "physics", "physics"},
		{"no account: the default", alice, "", "physics"},
		{"another account", alice, "chemistry", "permission denied: user alice may not charge account chemistry; yours: physics (default)"},
		{"a made-up account", alice, "physcis", `account "physcis" does not exist`},
		{"a user without associations", bob, "", "user bob has no account on this cluster"},
		{"an admin charges any account", root, "chemistry", "chemistry"},
		{"an admin cannot make one up", root, "nope", `account: "nope" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := simSpec(time.Second, 0)
			s.Account = tc.account
			resp, err := h.trySubmit(tc.who, s)
			if err != nil {
				// The API answers these errors with a 4xx code (apiserver).
				userFault := errors.Is(err, ErrForbidden) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict)
				if msg := err.Error(); !strings.Contains(msg, tc.want) || !userFault || strings.Contains(msg, "\n") {
					t.Errorf("refused with %q (a user's fault: %v), want %q", msg, userFault, tc.want)
				}
				return
			}
			if got := h.job(resp.IDs[0]).Spec.Account; got != tc.want {
				t.Errorf("charged %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEnforceFlagWithoutAccounts(t *testing.T) {
	h := newHarness(t, 1, func(h *harness) { h.cfg.EnforceAssociations = true })
	if a := h.c.Associations(); a.Mode != api.ModeEnforced || !strings.Contains(a.Why, "--enforce-associations") {
		t.Errorf("%+v", a)
	}
	if _, err := h.trySubmit(alice, simSpec(time.Second, 0)); !errors.Is(err, ErrForbidden) {
		t.Errorf("a user without associations submitted: %v", err)
	}
}

func TestCoordinatorsHoldReleaseAndCancel(t *testing.T) {
	h := newHarness(t, 1)
	if err := h.c.AddAccount(root, assoc.Account{Name: "physics", Coordinators: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	h.c.AddAccount(root, assoc.Account{Name: "chemistry"})
	h.c.AddUser(root, assoc.User{Name: "alice", Accounts: []string{"physics", "chemistry"}})
	h.c.AddUser(root, assoc.User{Name: "bob", Accounts: []string{"physics"}})
	s := simSpec(time.Hour, 0)
	s.Hold = true
	phys := h.submit(alice, s)[0]
	s.Account = "chemistry"
	chem := h.submit(alice, s)[0]
	id := func(n uint64) string { return string(rune('0' + n)) }
	if _, err := h.c.Act(bob, id(phys), api.ActionRequeue); !errors.Is(err, ErrForbidden) {
		t.Errorf("a coordinator requeued: %v", err)
	}
	if _, err := h.c.Act(bob, id(chem), api.ActionCancel); !errors.Is(err, ErrForbidden) {
		t.Errorf("bob cancelled a chemistry job: %v", err)
	}
	if _, err := h.c.Act(bob, id(phys), api.ActionRelease); err != nil {
		t.Fatalf("the coordinator could not release: %v", err)
	}
	if _, err := h.c.Act(bob, id(phys), api.ActionHold); err != nil {
		t.Fatalf("the coordinator could not hold: %v", err)
	}
	if j := h.job(phys); j.State != job.Held || j.Reason != job.ReasonHeldAdmin {
		t.Errorf("held by the coordinator: %s %s", j.State, j.Reason)
	}
	if _, err := h.c.Act(alice, id(phys), api.ActionRelease); !errors.Is(err, ErrForbidden) {
		t.Errorf("the owner released a coordinator's hold: %v", err)
	}
	if _, err := h.c.Act(bob, id(phys), api.ActionCancel); err != nil {
		t.Fatalf("the coordinator could not cancel: %v", err)
	}
	h.waitState(phys, job.Cancelled)
	// And their bills: the statement of the account, every user.
	st, err := h.c.Statement(bob, api.StatementQuery{Account: "physics", Period: "2026-11"})
	if err != nil || st.Partial {
		t.Errorf("coordinator's statement: %+v %v", st, err)
	}
	if st, err := h.c.Statement(alice, api.StatementQuery{Account: "physics", Period: "2026-11"}); err != nil || !st.Partial {
		t.Errorf("a member's statement is hers only: %+v %v", st, err)
	}
}

// Four jobs of an account arrive at once on a quota that fits one and a
// half of their reservations: one runs at a time, and the account never
// goes past its limit by more than the running job's own excess over its
// reservation.
func TestQuotaHoldsForJobsArrivingTogether(t *testing.T) {
	h := newHarness(t, 6) // three sim-x86 (250 W peak, 3 s boot) and three sim-arm
	// Each job draws about 13 kJ of its 15.75 kJ reservation: once one is
	// billed, what is left fits no other.
	spec := loadSpec(50*time.Second, 1)
	spec.TimeLimit = job.Duration(time.Minute)
	spec.Arch = job.ArchX86
	reservation := 250 * 63.0 // peak × (time limit + boot)
	limitJ := 1.5 * reservation
	h.associate(assoc.Account{Name: "physics", Limit: assoc.Limit{EnergyKWh: limitJ / 3.6e6}})
	var ids []uint64
	for range 4 {
		spec.Account = "physics"
		ids = append(ids, h.submit(alice, spec)...)
	}
	var maxRunning int
	h.until("the quota to hold the rest", func() bool {
		running, waiting := 0, 0
		h.c.mu.RLock()
		for _, id := range ids {
			j := h.c.jobs[id]
			if j.State.Active() {
				running++
			}
			if j.State == job.Pending && h.c.reasons[id] == job.ReasonAccountEnergyLimit {
				waiting++
			}
		}
		h.c.mu.RUnlock()
		maxRunning = max(maxRunning, running)
		return running == 0 && waiting > 0 && h.job(ids[0]).State == job.Completed
	})
	if maxRunning != 1 {
		t.Errorf("%d jobs ran at once on a quota that fits one and a half", maxRunning)
	}
	var billed, excess float64
	for _, id := range ids {
		if j := h.job(id); j.State == job.Completed {
			e := h.acctJob(id).EnergyJoules
			billed += e
			excess = max(excess, e-reservation)
		}
	}
	if billed > limitJ+excess {
		t.Errorf("billed %.0f J on a %.0f J limit (largest excess %.0f J)", billed, limitJ, excess)
	}
	q := h.c.Quota().Quotas
	if len(q) != 1 || math.Abs(q[0].UsedJ-billed) > 1e-6 || q[0].ReservedJ != 0 || math.Abs(q[0].LeftJ-(limitJ-billed)) > 1e-6 ||
		!q[0].Reset.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("quota report %+v, billed %.0f", q, billed)
	}
}

// A bill that takes a budget past 80 % is an event on the job, a metric and
// a warning on the user's next submit.
func TestQuotaWarnsAt80And100Percent(t *testing.T) {
	h := newHarness(t, 1)
	var warned []int
	h.c.hooks.QuotaWarning = func(kind, name string, pct int) {
		if kind == assoc.KindAccount && name == "physics" {
			warned = append(warned, pct)
		}
	}
	long := loadSpec(60*time.Second, 1)
	long.Account = "physics"
	h.associate(assoc.Account{Name: "physics", Limit: assoc.Limit{EnergyKWh: 1}})
	id := h.submit(alice, long)[0]
	h.waitState(id, job.Completed)
	used := h.acctJob(id).EnergyJoules
	// Lower the limit so that 80 % lies 600 J on: a short job (5 s at
	// 250 W, reserving 250 W × 13 s, which still fits) crosses it.
	limit := (used + 600) / 0.8
	if err := h.c.PutAccount(root, assoc.Account{Name: "physics", Limit: assoc.Limit{EnergyKWh: limit / 3.6e6}}); err != nil {
		t.Fatal(err)
	}
	spec := loadSpec(5*time.Second, 1)
	spec.TimeLimit = job.Duration(10 * time.Second)
	spec.Account = "physics"
	id2 := h.submit(alice, spec)[0]
	h.waitState(id2, job.Completed)
	if !slices.Equal(warned, []int{80}) {
		t.Errorf("warnings %v, want [80]", warned)
	}
	var found bool
	for _, ev := range h.events(id2) {
		found = found || strings.Contains(ev.Detail, "account physics has used 80% of its energy limit")
	}
	if !found {
		t.Errorf("no quota event on job %d: %+v", id2, h.events(id2))
	}
	resp, err := h.trySubmit(alice, spec)
	if err != nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "account physics has used 80%") {
		t.Errorf("next submit: %+v %v", resp, err)
	}
}

// A job that runs across midnight at the end of the month is split between
// the two months' statements, which add up to its bill.
func TestStatementAcrossTheMonthBoundary(t *testing.T) {
	h := newHarness(t, 1)
	h.clk.Set(time.Date(2026, 11, 30, 23, 59, 40, 0, time.UTC))
	h.associate(assoc.Account{Name: "physics"})
	spec := loadSpec(40*time.Second, 1)
	spec.Account = "physics"
	id := h.submit(alice, spec)[0]
	h.waitState(id, job.Completed)
	total := h.acctJob(id).EnergyJoules
	nov, err := h.c.Statement(root, api.StatementQuery{Account: "physics", Period: "2026-11"})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := h.c.Statement(root, api.StatementQuery{Account: "physics", Period: "2026-12"})
	if err != nil {
		t.Fatal(err)
	}
	if nov.Totals.Joules <= 0 || dec.Totals.Joules <= 0 || math.Abs(nov.Totals.Joules+dec.Totals.Joules-total) > 1e-6*total {
		t.Errorf("November %.1f J + December %.1f J, the job %.1f J", nov.Totals.Joules, dec.Totals.Joules, total)
	}
	if j := nov.Users[0].Jobs[0]; !j.Split || j.SplitBy != "curve" {
		t.Errorf("November's part: %+v", j)
	}
	// The simulator draws nothing while off and the node is off between
	// jobs: nothing unbilled, but recorded.
	if nov.Unbilled == nil || nov.Unbilled.Joules < 0 {
		t.Errorf("statement's unbilled energy: %+v", nov.Unbilled)
	}
	// The fair share has seen the energy.
	for _, s := range h.c.Share().Accounts {
		if s.Account == "physics" && (s.Factor >= 1 || math.Abs(s.UsageJ-total) > 0.01*total) {
			t.Errorf("share %+v after %.0f J", s, total)
		}
	}
}

// bmcq show's terms add up to the priority the last pass gave.
func TestPriorityTermsAddUp(t *testing.T) {
	h := newHarness(t, 1)
	h.associate(assoc.Account{Name: "physics"})
	long := loadSpec(time.Hour, 1)
	busy := h.submit(alice, long)[0]
	h.waitState(busy, job.Running)
	waiting := h.submit(alice, loadSpec(time.Second, 0))[0]
	var d api.JobDetail
	h.until("a pass to give the waiting job a priority", func() bool {
		var err error
		d, err = h.c.JobDetail(strconv.FormatUint(waiting, 10))
		return err == nil && d.Priority > 0
	})
	var sum float64
	for _, tm := range d.PriorityTerms {
		sum += tm.Value
	}
	if len(d.PriorityTerms) != 4 || math.Abs(sum-d.Priority) > 1e-6 || !strings.Contains(d.PriorityTerms[2].Detail, "account physics") {
		t.Errorf("priority %g, terms %+v", d.Priority, d.PriorityTerms)
	}
}
