package ctld

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/agent/proto"
	"github.com/bmc-sched/bmc/boot"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/machine/realnode"
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
	last  time.Time
	prev  uint64
	beats int
	wraps int
}

func (a *raplAgent) beat() {
	a.h.t.Helper()
	j := a.h.job(a.id)
	now := a.h.clk.Now()
	if j.State != job.Running || now.Sub(a.last) < time.Second {
		return
	}
	rd, err := a.meter.PowerReading(context.Background())
	if err != nil {
		a.h.t.Fatal(err)
	}
	uj := uint64(rd.Joules*1e6) % (a.maxUJ + 1)
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

func (a *raplAgent) runUntilDone() {
	a.h.until("the job to complete", func() bool {
		a.beat()
		return a.h.job(a.id).State == job.Completed
	})
}

// TestRAPLBillsANodeWithoutMeter: a node whose BMC reads no power is billed
// from the agent's RAPL counter, across its wraps, and the ledger says so.
func TestRAPLBillsANodeWithoutMeter(t *testing.T) {
	var sim machine.Machine
	h := newHarness(t, 1, func(h *harness) {
		h.wrap = func(name string, m machine.Machine) machine.Machine { sim = m; return noMeter{m} }
		// A real boot outlasts the default 5 s gap limit many times over;
		// the simulator's takes 3 s, so the limit is cut to 2 s to match.
		h.cfg.Energy.MaxGapIntervals = 2
	})
	hub := realnode.NewAgentHub(h.clk, testLogger())
	hub.OnEnergy(h.c.AgentEnergy)
	// 2000 J range: at the sim's 250 W peak it wraps every 8 s.
	a := &raplAgent{h: h, hub: hub, meter: sim.(power.Meter), maxUJ: 1_999_999_999}
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
	// Before the agent is up there is nothing to read: the boot phase is
	// extrapolated and must say so.
	if boot := es[0]; !boot.EnergyEstimated || len(boot.Reasons) == 0 {
		t.Errorf("boot phase of a meterless node not marked estimated: %+v", boot)
	}
	if j := h.acctJob(a.id); !j.EnergyEstimated {
		t.Errorf("job with an unmeasured boot not estimated: %+v", j)
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
	var sim machine.Machine
	h := newHarness(t, 1, func(h *harness) {
		h.wrap = func(name string, m machine.Machine) machine.Machine { sim = m; return noMeter{m} }
		h.cfg.Energy.MaxGapIntervals = 2
		h.cfg.Energy.SampleFlush = time.Second // a crash loses at most one heartbeat
	})
	hub := realnode.NewAgentHub(h.clk, testLogger())
	hub.OnEnergy(h.c.AgentEnergy)
	a := &raplAgent{h: h, hub: hub, meter: sim.(power.Meter), maxUJ: 1_999_999_999}
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
	h.start()
	hub.OnEnergy(h.c.AgentEnergy)
	a.meter = sim.(power.Meter)
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
