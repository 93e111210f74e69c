package ctld

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/store"
)

func (h *harness) ledger(id uint64) []api.LedgerEntry {
	h.t.Helper()
	l, err := h.c.Acct(AcctFilter{IDs: map[uint64]bool{id: true}, Entries: true})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(l.Jobs) != 1 {
		h.t.Fatalf("acct for job %d: %d rows", id, len(l.Jobs))
	}
	return l.Jobs[0].Entries
}

func (h *harness) acctJob(id uint64) api.AcctJob {
	h.t.Helper()
	l, err := h.c.Acct(AcctFilter{IDs: map[uint64]bool{id: true}})
	if err != nil || len(l.Jobs) != 1 {
		h.t.Fatalf("acct for job %d: %v %v", id, l, err)
	}
	return l.Jobs[0]
}

func loadSpec(runtime time.Duration, load float64) job.Spec {
	s := simSpec(runtime, 0)
	s.Sim.Load = load
	return s
}

func near(got, want, rel float64) bool { return math.Abs(got-want) <= rel*math.Abs(want) }

func TestHeavyJobIsBilledMoreThanALightOne(t *testing.T) {
	h := newHarness(t, 1) // sim001: sim-x86, 90 W idle, 250 W peak, 3 s boot
	heavy := h.submit(alice, loadSpec(20*time.Second, 1))[0]
	h.waitState(heavy, job.Completed)
	light := h.submit(alice, loadSpec(20*time.Second, 0))[0]
	h.waitState(light, job.Completed)

	for _, tc := range []struct {
		id       uint64
		runWatts float64
	}{{heavy, 250}, {light, 90}} {
		a := h.acctJob(tc.id)
		if a.EnergyEstimated {
			t.Errorf("job %d estimated: %v", tc.id, a.Reasons)
		}
		if sum := a.BootJoules + a.RunJoules + a.OffJoules; math.Abs(sum-a.EnergyJoules) > 1e-6 {
			t.Errorf("job %d: boot %.1f + run %.1f + off %.1f = %.1f, total %.1f", tc.id, a.BootJoules, a.RunJoules, a.OffJoules, sum, a.EnergyJoules)
		}
		// The model: the command draws its load's watts for 20 s; the
		// phase edges fall between 1 s readings, so allow one second's
		// difference between idle and peak (160 J).
		if want := tc.runWatts * 20; math.Abs(a.RunJoules-want) > 160 {
			t.Errorf("job %d: run %.1f J, model says %.1f J", tc.id, a.RunJoules, want)
		}
		if want := 90 * 3.0; math.Abs(a.BootJoules-want) > 160 {
			t.Errorf("job %d: boot %.1f J, model says about %.1f J", tc.id, a.BootJoules, want)
		}
		es := h.ledger(tc.id)
		if len(es) != 3 || es[0].Phase != "boot" || es[1].Phase != "run" || es[2].Phase != "off" {
			t.Errorf("job %d ledger phases: %+v", tc.id, es)
		}
		for _, e := range es {
			if e.User != "alice" || e.Node != "sim001" || e.Arch != "x86_64" || e.Kind != "sim-x86" || e.Image != "busybox" || !e.Simulated {
				t.Errorf("entry lacks job facts: %+v", e)
			}
		}
	}
	if h, l := h.acctJob(heavy).EnergyJoules, h.acctJob(light).EnergyJoules; h < 2*l {
		t.Errorf("heavy job %.0f J, light job %.0f J: heavy should cost well over twice as much", h, l)
	}
	cv, err := h.c.Curve(heavy)
	if err != nil || len(cv.Boots) != 1 || len(cv.Boots[0].Points) < 10 {
		t.Fatalf("curve: %+v %v", cv, err)
	}
	peak := 0.0
	for _, p := range cv.Boots[0].Points {
		peak = max(peak, p.Watts)
	}
	if peak < 200 {
		t.Errorf("heavy job's curve peaks at %.0f W", peak)
	}
}

func TestRestartMidJobBillsEachPhaseOnce(t *testing.T) {
	h := newHarness(t, 1)
	id := h.submit(alice, loadSpec(30*time.Second, 1))[0]
	h.waitState(id, job.Running)
	h.until("ten seconds of running", func() bool { return h.clk.Now().Sub(h.job(id).RunTime) > 10*time.Second })
	h.restart()
	h.waitState(id, job.Completed)
	h.restart() // a second start must not bill the ended job again
	h.until("the new controller to settle", func() bool { return true })
	es := h.ledger(id)
	if len(es) != 3 {
		t.Fatalf("%d ledger entries, want one per phase: %+v", len(es), es)
	}
	a := h.acctJob(id)
	// The simulator's counter survives the restart, so the energy is exact
	// however long the controller was away.
	if want := 250 * 30.0; !near(a.RunJoules, want, 0.06) {
		t.Errorf("run %.1f J across a restart, model says %.1f J", a.RunJoules, want)
	}
	if n := h.ledgerEntries(); n != 3 {
		t.Errorf("ledger holds %d entries", n)
	}
	if raw := h.rawChunks(); raw != 1 {
		t.Errorf("%d raw sample chunks after billing; want the boot's readings kept in one compacted chunk", raw)
	}
}

func (h *harness) rawChunks() int {
	n := 0
	err := h.st.View(func(tx *store.Tx) error {
		return tx.ForEachSampleChunk(func(*store.SampleChunk) error { n++; return nil })
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// ledgerEntries counts what the store's ledger holds, every job.
func (h *harness) ledgerEntries() int {
	n := 0
	err := h.st.View(func(tx *store.Tx) error {
		return tx.ForEachLedgerEntry(func(*store.LedgerEntry) error { n++; return nil })
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// failingMeter is a machine whose meter stops answering after a number of readings.
type failingMeter struct {
	machine.Machine
	left atomic.Int64
}

func (f *failingMeter) PowerReading(ctx context.Context) (power.Reading, error) {
	if f.left.Add(-1) < 0 {
		return power.Reading{}, errors.New("ipmitool: " + power.ErrTimeout.Error())
	}
	return f.Machine.(power.Meter).PowerReading(ctx)
}

func TestMeterFailingMidJobIsEstimatedWithAReason(t *testing.T) {
	fm := &failingMeter{}
	fm.left.Store(12) // 3 s of boot and some of the run, then silence
	h := newHarness(t, 1, func(h *harness) {
		h.wrap = func(name string, m machine.Machine) machine.Machine { fm.Machine = m; return fm }
	})
	id := h.submit(alice, loadSpec(30*time.Second, 1))[0]
	h.waitState(id, job.Completed)
	a := h.acctJob(id)
	if !a.EnergyEstimated || len(a.Reasons) == 0 {
		t.Fatalf("meter failed mid-job but the bill is not estimated: %+v", a)
	}
	if !strings.Contains(strings.Join(a.Reasons, "\n"), "run: ") {
		t.Errorf("reasons do not name the run phase: %q", a.Reasons)
	}
	if a.RunJoules <= 0 {
		t.Errorf("estimated run energy is %.1f J: a silent zero", a.RunJoules)
	}
}

func TestFailedBootIsBilledToTheJob(t *testing.T) {
	h := newHarness(t, 1, func(h *harness) {
		h.cfg.MaxBootAttempts = 2
		h.cfg.BootTimeout = 10 * time.Second
		h.wrap = func(name string, m machine.Machine) machine.Machine { return meteredNeverBoots{neverBoots{m}} }
	})
	id := h.submit(alice, simSpec(time.Second, 0))[0]
	h.waitState(id, job.BootFail)
	es := h.ledger(id)
	if len(es) != 2 || es[0].Boot == es[1].Boot || es[0].Phase != "boot" || es[1].Phase != "boot" {
		t.Fatalf("want one boot entry per attempt: %+v", es)
	}
	for _, e := range es {
		if want := 90 * 10.0; !near(e.Joules, want, 0.15) {
			t.Errorf("boot %d: %.1f J, model says about %.1f J (10 s at idle)", e.Boot, e.Joules, want)
		}
	}
}

// meteredNeverBoots keeps the sim machine's meter visible through neverBoots.
type meteredNeverBoots struct{ neverBoots }

func (m meteredNeverBoots) PowerReading(ctx context.Context) (power.Reading, error) {
	return m.Machine.(power.Meter).PowerReading(ctx)
}

func TestMetricsShowWattsAndEnergyByAccount(t *testing.T) {
	m := NewMetrics()
	h := newHarness(t, 1)
	h.associate(assoc.Account{Name: "physics", Limit: assoc.Limit{EnergyKWh: 1}}, assoc.Account{Name: "idle-account", Limit: assoc.Limit{EnergyKWh: 1}})
	h.c.hooks.Billed = m.Hooks().Billed
	s := loadSpec(10*time.Second, 1)
	s.Account = "physics"
	id := h.submit(alice, s)[0]
	h.waitState(id, job.Running)
	h.until("a reading under load", func() bool { return h.c.Nodes()[0].Watts != nil && *h.c.Nodes()[0].Watts > 200 })
	m.Collect(h.c)
	if got, _ := metricValue(t, m.Registry, "bmc_machine_power_watts", "node", "sim001"); got != 250 {
		t.Errorf("bmc_machine_power_watts{node=sim001} = %g while a load-1 job runs, model 250", got)
	}
	h.waitState(id, job.Completed)
	m.Collect(h.c)
	want := h.acctJob(id).EnergyJoules
	if got, _ := metricValue(t, m.Registry, "bmc_energy_joules_total", "account", "physics"); math.Abs(got-want) > 1e-6 {
		t.Errorf("bmc_energy_joules_total{account=physics} = %g, ledger says %g", got, want)
	}
	if _, n := metricValue(t, m.Registry, "bmc_energy_joules_total", "account", "idle-account"); n != 2 {
		t.Errorf("%d energy series, want physics and the pre-created idle-account", n)
	}
	if got, _ := metricValue(t, m.Registry, "bmc_energy_quota_used_ratio", "name", "physics"); math.Abs(got-want/3.6e6) > 1e-9 {
		t.Errorf("bmc_energy_quota_used_ratio{name=physics} = %g, want %g", got, want/3.6e6)
	}
}

// metricValue gathers reg and returns the value of name{label=value} and
// how many series name has.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, value string) (float64, int) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		v := math.NaN()
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					switch {
					case m.GetGauge() != nil:
						v = m.GetGauge().GetValue()
					case m.GetCounter() != nil:
						v = m.GetCounter().GetValue()
					}
				}
			}
		}
		return v, len(mf.GetMetric())
	}
	return math.NaN(), 0
}

// bootGate holds a machine's boots while closed is set: the agent never
// reports ready, but the meter reads on. A test then acts on a job that is
// surely BOOTING, however far the fake clock ran ahead of the controller.
type bootGate struct {
	machine.Machine
	closed *atomic.Bool
}

func (g bootGate) WaitReady(ctx context.Context, j *job.Job) (machine.Session, error) {
	if g.closed.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return g.Machine.WaitReady(ctx, j)
}

func (g bootGate) PowerReading(ctx context.Context) (power.Reading, error) {
	return g.Machine.(power.Meter).PowerReading(ctx)
}

func TestEveryBootOfARequeuedJobIsBilled(t *testing.T) {
	var closed atomic.Bool
	h := newHarness(t, 1, func(h *harness) {
		h.wrap = func(name string, m machine.Machine) machine.Machine { return bootGate{m, &closed} }
	})
	id := h.submit(alice, loadSpec(20*time.Second, 1))[0]
	h.waitState(id, job.Running)
	if _, err := h.c.Act(alice, fmt.Sprint(id), api.ActionRequeue); err != nil {
		t.Fatal(err)
	}
	h.waitState(id, job.Completed)
	// A second job caught booting by a restart is booted again: the
	// interrupted boot is billed under its own number.
	closed.Store(true)
	second := h.submit(alice, loadSpec(5*time.Second, 0))[0]
	h.until("second job to boot", func() bool { return h.job(second).State == job.Booting })
	h.stop()
	closed.Store(false)
	h.start()
	h.waitState(second, job.Completed)

	got := map[uint64][]string{}
	for _, e := range h.ledger(id) {
		got[e.Boot] = append(got[e.Boot], e.Phase)
	}
	if len(got) != 2 || strings.Join(got[1], ",") != "boot,run,off" || strings.Join(got[2], ",") != "boot,run,off" {
		t.Errorf("requeued job's ledger by boot: %v", got)
	}
	got = map[uint64][]string{}
	for _, e := range h.ledger(second) {
		got[e.Boot] = append(got[e.Boot], e.Phase)
	}
	if len(got) != 2 || strings.Join(got[1], ",") != "boot" || strings.Join(got[2], ",") != "boot,run,off" {
		t.Errorf("job restarted while booting, ledger by boot: %v", got)
	}
	a := h.acctJob(second)
	if a.Boots != 2 || a.BootJoules <= 0 || a.EnergyEstimated {
		t.Errorf("job restarted while booting: %+v", a)
	}
}

func TestRunningJobShowsEnergySoFar(t *testing.T) {
	h := newHarness(t, 1)
	id := h.submit(alice, loadSpec(30*time.Second, 1))[0]
	j := h.waitState(id, job.Running)
	h.until("ten seconds of running", func() bool { return h.clk.Now().Sub(j.RunTime) >= 10*time.Second })
	a := h.acctJob(id)
	if !a.Live || a.State != job.Running || a.Boots != 1 {
		t.Fatalf("running job in acct: %+v", a)
	}
	if ran := h.clk.Now().Sub(j.RunTime).Seconds(); !near(a.RunJoules, 250*ran, 0.1) {
		t.Errorf("energy so far: run %.1f J after %.1f s at 250 W", a.RunJoules, ran)
	}
	if n := h.ledgerEntries(); n != 0 {
		t.Errorf("showing a running job wrote %d ledger entries", n)
	}
	h.waitState(id, job.Completed)
	if a := h.acctJob(id); a.Live || len(h.ledger(id)) != 3 {
		t.Errorf("after the end: live %v, %d entries", a.Live, len(h.ledger(id)))
	}
}

// storedBetween counts the stored power samples of a job's boot taken in
// [from, to).
func (h *harness) storedBetween(j *job.Job, from, to time.Time) int {
	n := 0
	h.st.View(func(tx *store.Tx) error {
		chunks, err := tx.BootSamples(j.Node, j.ID, j.Boot)
		for _, ch := range chunks {
			for _, s := range ch.Samples {
				if !s.Time.Before(from) && s.Time.Before(to) {
					n++
				}
			}
		}
		return err
	})
	return n
}

// A write of power samples that fails is retried at every reading until one
// holds: the samples taken meanwhile reach the store, each failure is
// counted, and the bill stays measured.
func TestSampleFlushFailureIsRetried(t *testing.T) {
	var fails atomic.Int64
	h := newHarness(t, 1)
	h.c.hooks.SampleFlushFailed = func(string) { fails.Add(1) }
	id := h.submit(alice, loadSpec(60*time.Second, 1))[0]
	j := h.waitState(id, job.Running)
	h.faults.failBatch.Store(true)
	failFrom := h.clk.Now()
	h.until("three failed flushes", func() bool { return fails.Load() >= 3 })
	failTo := h.clk.Now()
	if n := h.storedBetween(j, failFrom, failTo); n != 0 {
		t.Fatalf("%d samples stored while the store failed", n)
	}
	h.faults.failBatch.Store(false)
	h.until("the samples taken meanwhile to be stored", func() bool { return h.storedBetween(j, failFrom, failTo) > 0 })
	if got, want := h.storedBetween(j, failFrom, failTo), int(failTo.Sub(failFrom)/time.Second)-1; got < want {
		t.Errorf("%d samples of the failing stretch stored, want at least %d", got, want)
	}
	h.waitState(id, job.Completed)
	if a := h.acctJob(id); a.EnergyEstimated {
		t.Errorf("bill estimated after a retried flush: %v", a.Reasons)
	}
}
