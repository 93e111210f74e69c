package ctld

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/agent/proto"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/boot"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/machine/realnode"
	"github.com/bmc-sched/bmc/machine/simnode"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/store"
)

// noMeter hides the simulator's meter: a node whose BMC reads no power.
type noMeter struct{ machine.Machine }

// raplAgent plays the node agent's heartbeats: once a second of fake time
// while the job runs, the simulator's energy counter as a RAPL counter
// wrapping at maxUJ would show it.
type raplAgent struct {
	h     *harness
	hub   *realnode.AgentHub
	meter power.Meter // the simulator's: ground truth
	id    uint64
	maxUJ uint64
	fixed *uint64 // send this value instead of the truth
	// fromReady sends readings from the machine's readiness on, while the
	// job is still BOOTING, as the real agent does with its Ready
	// heartbeat; else only while it runs.
	fromReady bool
	// less is subtracted from the truth (floored at 0): a job under-reporting.
	less float64
	// period is the heartbeat's (0: 1 s); atEnd also sends a reading
	// 200 ms after the command ended, as the agent does.
	period time.Duration
	atEnd  bool
	ended  bool
	last   time.Time
	prev   uint64
	beats  int
	wraps  int
}

func (a *raplAgent) beat() {
	a.h.t.Helper()
	j := a.h.job(a.id)
	now := a.h.clk.Now()
	booted := j.State == job.Booting && a.fromReady && a.meter.(interface{ Ready() bool }).Ready()
	period := a.period
	if period == 0 {
		period = time.Second
	}
	end := false
	if a.atEnd && j.State == job.Running && !a.ended {
		running, _, at, known := a.meter.(interface {
			Status(uint64) (bool, int, time.Time, bool)
		}).Status(simnode.RunKey(j))
		// The agent looks every 200 ms: its reading comes after the
		// command's result.
		end = known && !running && !now.Before(at.Add(200*time.Millisecond))
		a.ended = end
	}
	if (j.State != job.Running && !booted) || (now.Sub(a.last) < period && !end) {
		return
	}
	rd, err := a.meter.PowerReading(context.Background())
	if err != nil {
		a.h.t.Fatal(err)
	}
	uj := uint64(max(rd.Joules-a.less, 0)*1e6) % (a.maxUJ + 1)
	if a.fixed != nil {
		uj = *a.fixed
	}
	if a.beats > 0 && uj < a.prev {
		a.wraps++
	}
	a.last, a.prev = now, uj
	a.beats++
	maxUJ := a.maxUJ
	a.hub.Heartbeat(&boot.Boot{JobID: j.ID, Boot: j.Boot, Node: j.Node},
		proto.Heartbeat{Uptime: 1, Running: true, EnergyUJ: &uj, EnergyMaxUJ: &maxUJ})
}

// newMeterlessRAPL is a one-node harness whose BMC reads no power, and the
// agent that posts its RAPL counter (the simulator's meter, the truth).
// opts edit the harness after that.
func newMeterlessRAPL(t *testing.T, opts ...func(*harness)) *raplAgent {
	a := &raplAgent{maxUJ: 1_999_999_999}
	meterless := func(h *harness) {
		h.wrap = func(name string, m machine.Machine) machine.Machine { a.meter = m.(power.Meter); return noMeter{m} }
		// A real boot outlasts the default 5 s gap limit many times over;
		// the simulator's takes 3 s, so the limit is cut to 2 s to match.
		h.cfg.Energy.MaxGapIntervals = 2
	}
	a.h = newHarness(t, 1, append([]func(*harness){meterless}, opts...)...)
	a.hub = realnode.NewAgentHub(a.h.clk, testLogger())
	a.hub.OnEnergy(a.h.c.AgentEnergy)
	return a
}

func (a *raplAgent) runUntilDone() {
	a.h.until("the job to complete", func() bool {
		a.beat()
		return a.h.job(a.id).State == job.Completed
	})
}

// TestRAPLBillsANodeWithoutMeter: a node whose BMC reads no power is billed
// from the agent's RAPL counter, across its wraps, and the ledger says so.
func TestRAPLBillsANodeWithoutMeter(t *testing.T) {
	a := newMeterlessRAPL(t)
	a.fromReady = true
	// 2000 J range: at the sim's 250 W peak it wraps every 8 s.
	h := a.h
	a.id = h.submit(alice, loadSpec(20*time.Second, 1))[0]
	a.runUntilDone()
	if a.wraps < 2 {
		t.Fatalf("the counter wrapped %d times in %d heartbeats; the test needs at least 2", a.wraps, a.beats)
	}
	es := h.ledger(a.id)
	if len(es) != 3 {
		t.Fatalf("ledger: %+v", es)
	}
	run := es[1]
	if run.Phase != "run" || run.Method != string(accounting.MethodRAPL) {
		t.Errorf("run entry: phase %q method %q, want run billed by %q", run.Phase, run.Method, accounting.MethodRAPL)
	}
	// Heartbeats 1 s apart measure the whole run; a wrap taken for a reset
	// would lose up to 2000 J and mark the phase estimated.
	if run.EnergyEstimated {
		t.Errorf("run estimated: %v", run.Reasons)
	}
	if want := 250 * 20.0; !near(run.Joules, want, 0.03) {
		t.Errorf("run %.1f J from a wrapping RAPL counter, model says %.1f J", run.Joules, want)
	}
	// The agent's first reading, at Ready, counts from the cold power-on:
	// the boot is measured (TestRAPLFirstReadingAfterColdPowerOn).
	checkColdBoot(t, es[0], 90)
}

// checkColdBoot checks that a boot phase was measured from the counter's
// 0 at power-on: the model's idle watts for its 3 s boot, or the idle
// floor where that is more (the fake clock may move on between the
// POWERING_ON transition and the power-on, and the floor counts from the
// former); never extrapolated.
func checkColdBoot(t *testing.T, boot api.LedgerEntry, idleWatts float64) {
	t.Helper()
	want := max(idleWatts*3, idleWatts*boot.Duration)
	if boot.Phase != "boot" || boot.Method != string(accounting.MethodRAPL) || !near(boot.Joules, want, 0.01) {
		t.Errorf("boot: %s by %q, %.1f J over %.1f s; want %.0f J", boot.Phase, boot.Method, boot.Joules, boot.Duration, want)
	}
	for _, r := range boot.Reasons {
		if !strings.Contains(r, "below the idle floor") {
			t.Errorf("boot estimated: %s", r)
		}
	}
}

// TestRAPLIgnoredBesideABMCMeter: RAPL counts the CPU package only, so a
// node whose BMC meters the whole machine is billed from the BMC even when
// the agent reports a counter (here one stuck at 0, which would bill 0 J).
func TestRAPLIgnoredBesideABMCMeter(t *testing.T) {
	var sim machine.Machine
	h := newHarness(t, 1, func(h *harness) {
		h.wrap = func(name string, m machine.Machine) machine.Machine { sim = m; return m }
	})
	hub := realnode.NewAgentHub(h.clk, testLogger())
	hub.OnEnergy(h.c.AgentEnergy)
	zero := uint64(0)
	a := &raplAgent{h: h, hub: hub, meter: sim.(power.Meter), maxUJ: 1_999_999_999, fixed: &zero}
	a.id = h.submit(alice, loadSpec(20*time.Second, 1))[0]
	a.runUntilDone()
	if a.beats < 15 {
		t.Fatalf("only %d heartbeats", a.beats)
	}
	es := h.ledger(a.id)
	if len(es) != 3 {
		t.Fatalf("ledger: %+v", es)
	}
	for _, e := range es {
		if e.Method != string("counter") || e.EnergyEstimated {
			t.Errorf("%s phase: method %q estimated %v %s; want the BMC's counter", e.Phase, e.Method, e.EnergyEstimated, strings.Join(e.Reasons, "; "))
		}
	}
	if want := 250 * 20.0; !near(es[1].Joules, want, 0.03) {
		t.Errorf("run %.1f J, model says %.1f J", es[1].Joules, want)
	}
}

// TestRAPLWrapAcrossRestart: the counter's range is stored with the
// samples, so a controller killed mid-job still unwraps the counter when it
// bills after restarting.
func TestRAPLWrapAcrossRestart(t *testing.T) {
	a := newMeterlessRAPL(t, func(h *harness) {
		h.cfg.Energy.SampleFlush = time.Second // a crash loses at most one heartbeat
	})
	a.fromReady = true
	h := a.h
	a.id = h.submit(alice, loadSpec(30*time.Second, 1))[0]
	h.until("two wraps before the crash", func() bool {
		a.beat()
		return a.wraps >= 2
	})
	wrapsBefore := a.wraps
	h.stop() // as a crash leaves it
	var chunks, marked int
	err := h.st.View(func(tx *store.Tx) error {
		return tx.ForEachSampleChunk(func(ch *store.SampleChunk) error {
			chunks++
			if ch.RAPL && ch.CounterMax == 2000 {
				marked++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if chunks == 0 || marked != chunks {
		t.Fatalf("%d of %d stored chunks carry the RAPL range of 2000 J", marked, chunks)
	}
	h.start() // the new machines' meter is a.meter
	a.hub.OnEnergy(h.c.AgentEnergy)
	a.runUntilDone()
	if a.wraps <= wrapsBefore {
		t.Fatalf("no wrap after the restart (%d in all)", a.wraps)
	}
	es := h.ledger(a.id)
	if len(es) != 3 || es[1].Phase != "run" {
		t.Fatalf("ledger: %+v", es)
	}
	run := es[1]
	if run.Method != string(accounting.MethodRAPL) || run.EnergyEstimated {
		t.Errorf("run: method %q estimated %v %v", run.Method, run.EnergyEstimated, run.Reasons)
	}
	if want := 250 * 30.0; !near(run.Joules, want, 0.03) {
		t.Errorf("run %.1f J across a restart, model says %.1f J", run.Joules, want)
	}
}

// simJoules is the simulated machine's energy counter now: its truth since
// it was made (it draws nothing while off).
func simJoules(t *testing.T, m power.Meter) float64 {
	t.Helper()
	rd, err := m.PowerReading(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rd.Joules
}

// TestRAPLFirstReadingAfterColdPowerOn: the package counter restarts at 0
// when bmcctld switches the machine on from off, so the agent's first
// reading (its Ready heartbeat, the boot nearly over) is the boot's energy:
// the boot is measured, not extrapolated. A job that under-reports its boot is still billed the
// idle floor for it.
func TestRAPLFirstReadingAfterColdPowerOn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		less  float64 // joules the agent leaves out of every reading
		floor bool    // the boot phase bills the idle floor
	}{
		{"honest", 0, false},
		{"under-reported boot", 1e9, true}, // every reading 0: stood still from power-on
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newMeterlessRAPL(t)
			// atEnd: as the real agent does; without the reading after
			// the command's end, a run whose end the controller sees a
			// clock step late was billed that step at the running draw.
			a.fromReady, a.less, a.atEnd = true, tc.less, true
			h := a.h
			a.id = h.submit(alice, loadSpec(20*time.Second, 1))[0]
			a.runUntilDone()
			es := h.ledger(a.id)
			if len(es) != 3 || es[0].Phase != "boot" {
				t.Fatalf("ledger: %+v", es)
			}
			boot := es[0]
			floor := h.c.nodes["sim001"].idleFloor()
			if tc.floor {
				if boot.Joules < floor*boot.Duration-1e-6 || !boot.EnergyEstimated {
					t.Errorf("under-reported boot: %.1f J over %.1f s (floor %.0f W), estimated %v %v",
						boot.Joules, boot.Duration, floor, boot.EnergyEstimated, boot.Reasons)
				}
				return
			}
			checkColdBoot(t, boot, 90)
			if run := es[1]; run.Phase != "run" || !near(run.Joules, 250*20, 0.01) || run.EnergyEstimated {
				t.Errorf("run: %s %.1f J estimated %v %v; the model says 5000 J", run.Phase, run.Joules, run.EnergyEstimated, run.Reasons)
			}
		})
	}
}

// TestRAPLReusedMachineKeepsTheCounterDifference: a machine handed on
// without a power cycle (reset, kexec) keeps its package counter running,
// so the next job's first reading is a baseline, not its energy: the
// second job is not billed the first one's joules.
func TestRAPLReusedMachineKeepsTheCounterDifference(t *testing.T) {
	first := newMeterlessRAPL(t, warmOn)
	first.fromReady = true
	h := first.h
	spec := loadSpec(20*time.Second, 1)
	ids := h.submit(alice, spec)
	ids = append(ids, h.submit(alice, spec)...)
	var atSecond float64
	for i, id := range ids {
		// The second job's agent reports a second after its start: the
		// reset's boot has a length to bill.
		a := *first
		a.id, a.last = id, h.clk.Now()
		a.runUntilDone()
		if i == 0 {
			atSecond = simJoules(t, a.meter)
		}
	}
	if d := eventDetail(h.events(ids[1]), job.PoweringOn); !strings.Contains(d, "still on") {
		t.Fatalf("second job was not handed the machine on: %q", d)
	}
	var billed float64
	for _, e := range h.ledger(ids[1]) {
		if e.Phase != "off" {
			billed += e.Joules
		}
	}
	// 20 s at the model's 250 W peak; the counter held the first job's
	// joules when the second started.
	if want := 250 * 20.0; !near(billed, want, 0.05) {
		t.Errorf("second job billed %.1f J before its power-off; it drew about %.0f J (the counter stood at %.0f J when it started)",
			billed, want, atSecond)
	}
}

// TestRAPLRunEndWaitsForTheAgentsLastReading: heartbeats come 10 s apart,
// so a short run has no reading of its own unless the controller waits for
// the one the agent sends when the command ends; without it the run's last
// stretch is extrapolated at an earlier rate.
func TestRAPLRunEndWaitsForTheAgentsLastReading(t *testing.T) {
	a := newMeterlessRAPL(t)
	a.fromReady, a.period, a.atEnd = true, 10*time.Second, true
	a.id = a.h.submit(alice, loadSpec(4*time.Second, 1))[0]
	a.runUntilDone()
	if !a.ended {
		t.Fatal("the agent never saw the command end")
	}
	run := a.h.ledger(a.id)[1]
	if run.Phase != "run" || run.Samples < 1 || run.Method != string(accounting.MethodRAPL) {
		t.Errorf("run: %s by %q with %d readings; want the agent's reading at the command's end in it", run.Phase, run.Method, run.Samples)
	}
}
