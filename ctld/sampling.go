package ctld

// Sampling a powered node's power for the boot it is on: from its BMC's
// meter at fixed ticks, or from the node agent's RAPL counter, with the
// samples flushed to the store now and then and retried when a flush fails.

import (
	"context"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/power"
)

// baseline is a node's reading taken for one boot of a job before the
// transition that starts the boot's recording (see baselineReading).
type baseline struct {
	job, boot uint64
	s         accounting.Sample
}

// recording is the readings of one node while it is powered for one boot
// of one job.
type recording struct {
	node      string
	job, boot uint64
	m         machine.Machine
	samples   []accounting.Sample
	flushed   int // samples[:flushed] are in the store
	lastFlush time.Time
	stop      chan struct{}
	errs      int
	// flushErrs counts the failed flushes since the last one that held.
	flushErrs int
	// rapl is set once the node agent's RAPL counter feeds the recording
	// (a node without a BMC meter); raplMax is where it wraps, in joules.
	rapl    bool
	raplMax float64
	// offAt is when the node was confirmed off (sampleFinal): the end of
	// the boot's power-off phase.
	offAt time.Time
	// offStep rebuilds the step at a confirmed power-off from a BMC's
	// windowed readings (offstep.go); nil before one.
	offStep *offStep
	// startedAt is the boot's POWERING_ON transition; zero for a recording
	// resumed after a restart.
	startedAt time.Time
	// coldOn is when this controller switched the node on from off for
	// this boot (poweredOnCold). A package energy counter restarts at 0
	// at a cold power-on, so the agent's first reading is the energy since
	// coldOn, not a baseline: without it the boot before that reading (the
	// agent reports from its Ready heartbeat on) is extrapolated from the
	// first readings' rate, +10 … +23 % on whole one-minute bills in the
	// lab. Zero when not known to be cold: a reset or kexec keeps the
	// counter running, and a restart mid-boot forgets it.
	coldOn time.Time
}

// startRecordingLocked starts sampling j's node for its current boot, which
// started at at (zero when resumed after a restart). It is idempotent for
// the same boot. Called with c.mu held.
func (c *Controller) startRecordingLocked(j *job.Job, at time.Time) {
	if c.cfg.Energy.interval() < 0 || c.runCtx == nil {
		return
	}
	rt, ok := c.nodes[j.Node]
	if !ok {
		return
	}
	c.en.mu.Lock()
	if r := c.en.recs[j.Node]; r != nil {
		if r.job == j.ID && r.boot == j.Boot {
			c.en.mu.Unlock()
			return
		}
		close(r.stop) // a stale recording (should not happen): the new boot wins
	}
	r := &recording{node: j.Node, job: j.ID, boot: j.Boot, m: rt.m, stop: make(chan struct{}), startedAt: at}
	if b, ok := c.en.base[j.Node]; ok {
		delete(c.en.base, j.Node)
		if b.job == j.ID && b.boot == j.Boot {
			r.samples = []accounting.Sample{b.s}
		}
	}
	c.en.recs[j.Node] = r
	c.en.mu.Unlock()
	c.runGroup.Add(1)
	go func() {
		defer c.runGroup.Done()
		c.sampleLoop(c.runCtx, r)
	}()
}

// sampleLoop reads the node's meter at fixed ticks of the controller's
// clock (start, start+interval, …) so a slow meter does not stretch the
// interval; a tick missed while a read was in flight is skipped.
//
// Right after power-on the draw jumps from nothing to a booting machine's;
// one-second samples would cut that step's corner by up to half a second of
// full power (~1 % of a one-minute job), so the first powerOnWindow is read
// four times as often.
func (c *Controller) sampleLoop(ctx context.Context, r *recording) {
	iv := c.cfg.Energy.interval()
	fast := max(iv/4, 100*time.Millisecond)
	start := c.clk.Now()
	for k := int64(0); ; {
		c.sample(ctx, r)
		c.flushed(r, c.flushIfDue(r, false))
		now := c.clk.Now()
		var next time.Time
		if el := now.Sub(start); el < powerOnWindow && fast < iv {
			next = start.Add(time.Duration(int64(el/fast)+1) * fast)
		} else {
			k = max(k+1, int64(el/iv)+1)
			next = start.Add(time.Duration(k) * iv)
		}
		select {
		case <-ctx.Done():
			// The last try in this process: samples that do not land are
			// a gap that the bill, made after the restart, marks estimated.
			c.flushed(r, c.flushIfDue(r, true))
			return
		case <-r.stop:
			return
		case <-c.clk.After(next.Sub(now)):
		}
	}
}

// powerOnWindow is how long after power-on the sampler reads fast.
const powerOnWindow = 3 * time.Second

// sample takes one reading for r; errors are counted and left as a gap,
// which the bill then shows as estimated with its reason.
func (c *Controller) sample(ctx context.Context, r *recording) {
	s, ok := c.readMeter(ctx, r.node, r.job, r.m, &r.errs)
	if !ok {
		return
	}
	c.en.mu.Lock()
	if c.en.recs[r.node] != r {
		// The boot left the node while the BMC answered (its bill is
		// made): the reading is not the job's, and the meter loop reads
		// the node from here on.
		c.en.mu.Unlock()
		return
	}
	if c.en.meters[r.node].heldRepeat(s, c.clk.Now()) {
		c.en.mu.Unlock()
		return
	}
	for _, x := range offStepLocked(r, s) {
		c.addReadingLocked(r, x)
	}
	c.en.mu.Unlock()
}

// addReadingLocked adds reading s to r and feeds it to the node's meter.
// Called with c.en.mu held.
func (c *Controller) addReadingLocked(r *recording, s accounting.Sample) {
	if n := len(r.samples); n == 0 || s.Time.After(r.samples[n-1].Time) {
		r.samples = append(r.samples, s)
	}
	c.meterFeed(r.node, c.nodes[r.node].meterName(s), s, true, "", true)
}

// readMeter takes one reading of m, the machine of node, for job id. A
// failure is counted in *errs (guarded by c.en.mu), logged now and then,
// and reported to the PowerError hook.
func (c *Controller) readMeter(ctx context.Context, node string, id uint64, m machine.Machine, errs *int) (accounting.Sample, bool) {
	pm, ok := m.(power.Meter)
	if !ok || !hasMeter(m) {
		return accounting.Sample{}, false
	}
	rctx, cancel := context.WithTimeout(ctx, max(3*c.cfg.Energy.interval(), 5*time.Second))
	rd, err := pm.PowerReading(rctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return accounting.Sample{}, false
		}
		c.en.mu.Lock()
		*errs++
		n := *errs
		c.en.mu.Unlock()
		if n == 1 || n%60 == 0 {
			c.log.Warn("power reading failed", "node", node, "job", id, "failures", n, "err", err)
		}
		c.powerError(node, err)
		return accounting.Sample{}, false
	}
	w := rd.Watts
	c.mu.Lock()
	if n, ok := c.nodes[node]; ok && n.power != power.Off {
		n.watts = &w // an off machine shows no watts (bmcq nodes)
	}
	c.mu.Unlock()
	return accounting.Sample(rd), true
}

// baselineReading reads the meter of j's node while it is still off, just
// before the POWERING_ON transition of j's boot, and keeps the reading for
// the recording that transition starts. Taken before the transition stamps
// the boot's start, it is a reading at or before that start however late
// the sampler's goroutine first runs, so a boot cut short (a restart while
// booting) is not left with one reading and no rate, and a counter has its
// baseline. Called without c.mu held: a meter read can take seconds.
func (c *Controller) baselineReading(ctx context.Context, j *job.Job, m machine.Machine) {
	if c.cfg.Energy.interval() < 0 {
		return
	}
	var errs int
	s, ok := c.readMeter(ctx, j.Node, j.ID, m, &errs)
	if !ok {
		return
	}
	// The node is still off and free of the boot: the stretch up to this
	// reading is not the job's.
	rt := c.nodes[j.Node]
	c.mu.RLock()
	c.en.mu.Lock()
	c.en.base[j.Node] = baseline{job: j.ID, boot: j.Boot, s: s}
	if m := c.en.meters[j.Node]; m != nil {
		// The recording starts from this reading: the meter takes it
		// too, whatever the BMC held after the last power-off.
		m.holdUntil = time.Time{}
	}
	c.feedUnbilledLocked(j.Node, rt, s)
	c.en.mu.Unlock()
	c.mu.RUnlock()
}

// hasMeter reports whether m reads power out of band (its BMC). A
// real node implements power.Meter whether or not its node has one, so it
// says itself.
func hasMeter(m machine.Machine) bool {
	if hm, ok := m.(machine.Metered); ok {
		return hm.HasMeter()
	}
	_, ok := m.(power.Meter)
	return ok
}

// AgentEnergy records an in-band energy counter reading (RAPL energy_uj)
// that the node agent of r's boot sent, as a counter sample of that boot,
// stamped with when it arrived. realnode.AgentHub.OnEnergy feeds it.
//
// Only a node without a BMC meter uses it. RAPL counts the CPU package
// alone; beside a meter's whole-machine readings accounting would prefer the
// counter for the run phase (counters win on equal coverage) and bill less
// than the machine drew, and a BMC that stops answering would be papered
// over instead of leaving the bill estimated.
func (c *Controller) AgentEnergy(r machine.EnergyReading) {
	c.en.mu.Lock()
	defer c.en.mu.Unlock()
	var rec *recording
	for _, x := range c.en.recs {
		if x.job == r.Job && x.boot == r.Boot {
			rec = x
			break
		}
	}
	if rec == nil || hasMeter(rec.m) {
		return
	}
	if len(rec.samples) == 0 && !rec.coldOn.IsZero() && r.Time.After(rec.coldOn) {
		// The counter read 0 when the machine came on: its first reading
		// measures the boot up to it (a forged one still bills at least
		// the floor, and one that stood at 0 is implausible).
		rec.samples = append(rec.samples, accounting.Sample{Time: rec.coldOn, Counter: true})
	}
	rec.rapl = true
	if r.MaxUJ > 0 {
		// energy_uj takes the values 0…max_energy_range_uj.
		rec.raplMax = (float64(r.MaxUJ) + 1) / 1e6
	}
	s := accounting.Sample{Time: r.Time, Joules: float64(r.UJ) / 1e6, Counter: true}
	if n := len(rec.samples); n == 0 || s.Time.After(rec.samples[n-1].Time) {
		rec.samples = append(rec.samples, s)
	}
}

// poweredOnCold notes that j's node was just switched on from off for j's
// boot; on is when it was still off (zero: the boot's start, when the node
// was off all along since). An in-band counter's first reading then counts
// from on (AgentEnergy).
func (c *Controller) poweredOnCold(j *job.Job, on time.Time) {
	c.en.mu.Lock()
	defer c.en.mu.Unlock()
	r := c.en.recs[j.Node]
	if r == nil || r.job != j.ID || r.boot != j.Boot || len(r.samples) > 0 {
		return
	}
	if on.IsZero() {
		on = r.startedAt
	}
	r.coldOn = on
}

// inbandEndWait bounds how long the end of a run billed in-band waits for
// the agent's reading at the command's end: the agent looks every 200 ms
// and posts at once. A reading up to inbandEndSlack before the command's
// result arrived counts: it may come first.
const (
	inbandEndWait  = time.Second
	inbandEndSlack = 250 * time.Millisecond
)

// awaitInbandEnd waits, for a node billed from its agent's counter, until a
// reading dated at or after end (when the command's result arrived) less
// inbandEndSlack has come, for at most inbandEndWait. The agent sends one when the command ends, but the in-band
// power-off that follows beat it in the lab, and the run's last stretch was
// then extrapolated at an earlier rate: +52 % on a 10 s job whose busy half
// came first. Nodes with a BMC meter do not wait.
func (c *Controller) awaitInbandEnd(ctx context.Context, j *job.Job, end time.Time) {
	deadline, since := end.Add(inbandEndWait), end.Add(-inbandEndSlack)
	for {
		c.en.mu.Lock()
		r := c.en.recs[j.Node]
		// rapl is set with the first reading, so samples is not empty.
		wait := r != nil && r.job == j.ID && r.boot == j.Boot && r.rapl && r.samples[len(r.samples)-1].Time.Before(since)
		c.en.mu.Unlock()
		now := c.clk.Now()
		if !wait || !now.Before(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-c.clk.After(min(50*time.Millisecond, deadline.Sub(now))):
		}
	}
}

// sampleFinal notes that node was just confirmed off (or its power-on
// failed) and takes the reading that closes its powered stretch, so the
// boot's last phase ends there, on a measurement. A BMC's reading describes
// the past (power.DatedMeter): the one read now is dated up to Latency
// before offAt, so it reads on until a reading describes offAt itself;
// otherwise the phase's last second(s) would hold the machine's on power
// while it was off. It reads on until the first reading whose window lies
// wholly after offAt (dated Window/2 after it), for at most Latency +
// Window/2, so the recording holds what the BMC showed after the power-off
// and not only the reading that straddles it; the meter loop then reads
// on at the sampling interval for a while (meterLoop). Until Latency +
// Window after offAt, a reading that repeats the one before is taken for
// a value the BMC held and skipped (nodeMeter.heldRepeat).
func (c *Controller) sampleFinal(ctx context.Context, node string) {
	c.en.mu.Lock()
	r := c.en.recs[node]
	var offAt time.Time
	if r != nil {
		offAt = c.clk.Now()
		r.offAt = offAt
	}
	c.en.mu.Unlock()
	if r == nil {
		return
	}
	dm, ok := r.m.(power.DatedMeter)
	if !ok || dm.Latency() <= 0 {
		c.sample(ctx, r)
		return
	}
	c.en.mu.Lock()
	if m := c.en.meters[node]; m != nil {
		m.holdUntil = offAt.Add(dm.Latency() + dm.Window())
	}
	r.pendingOffStep(offAt, dm.Window()).hi = offAt
	c.en.mu.Unlock()
	defer func() {
		c.en.mu.Lock()
		defer c.en.mu.Unlock()
		if c.en.recs[node] == r {
			c.settleOffStepLocked(r)
		}
	}()
	c.sample(ctx, r)
	step := max(c.cfg.Energy.interval()/4, 100*time.Millisecond)
	after := offAt.Add(dm.Window() / 2)
	for deadline := after.Add(dm.Latency()); !c.covered(r, after) && c.clk.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return
		case <-c.clk.After(min(step, deadline.Sub(c.clk.Now()))):
		}
		c.sample(ctx, r)
	}
}

// offAsked notes that the power-off of node's current boot is asked for
// at at (in-band, or from its BMC), the earliest the machine can go off:
// from then on the recording holds back the readings that may hold the
// off (offStepLocked) until the confirmation places it.
func (c *Controller) offAsked(node string, at time.Time) {
	c.en.mu.Lock()
	defer c.en.mu.Unlock()
	r := c.en.recs[node]
	if r == nil {
		return
	}
	if dm, ok := r.m.(power.DatedMeter); ok && dm.Latency() > 0 {
		r.pendingOffStep(at, dm.Window())
	}
}

// billEndsAt ends the powered stretch of node's current boot at at, the
// end of its last phase, without a reading: the machine did not go off.
func (c *Controller) billEndsAt(node string, at time.Time) {
	c.en.mu.Lock()
	defer c.en.mu.Unlock()
	if r := c.en.recs[node]; r != nil {
		r.offAt = at
		c.releaseOffStepLocked(r)
	}
}

// covered reports whether r holds a reading dated at or after t.
func (c *Controller) covered(r *recording, t time.Time) bool {
	c.en.mu.Lock()
	defer c.en.mu.Unlock()
	n := len(r.samples)
	return n > 0 && !r.samples[n-1].Time.Before(t)
}

// stopRecordingLocked ends the recording of node for job/boot, if it is
// the current one.
func (c *Controller) stopRecordingLocked(node string, id, boot uint64) {
	c.en.mu.Lock()
	defer c.en.mu.Unlock()
	if r := c.en.recs[node]; r != nil && r.job == id && r.boot == boot {
		c.releaseOffStepLocked(r)
		close(r.stop)
		delete(c.en.recs, node)
		// The meter loop's first reading of the node follows the
		// recording's last at once (meterLoop's settleReadings).
		if rt := c.nodes[node]; rt != nil {
			rt.wake()
		}
	}
}

// resumeRecordingLocked restarts sampling for a job found powered after a
// controller restart.
func (c *Controller) resumeRecordingLocked(j *job.Job) {
	if powered(j.State) {
		c.startRecordingLocked(j, time.Time{})
	}
}
