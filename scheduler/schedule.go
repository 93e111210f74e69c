package scheduler

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// Schedule makes one scheduling pass over s. Waiting jobs are taken in
// priority order; each either gets a node (best fit) or a reason to wait.
// The first job that waits for resources blocks the ones behind it: they may
// only use nodes it could never use. With EASY backfill it also gets a
// reservation: the time the first node it can use is expected free.
//
// Every job runs on one whole machine (multi-node jobs are refused at submit
// and never planned). A job waits for resources only when no node it can use
// is free, and nodes are only ever taken during a pass, so every node still
// free behind it is one it cannot use: no placement behind it can delay it,
// and strict priority and backfill place the same jobs on the same nodes.
// The time limits and boot times serve the reservation, which bmcq shows.
// Schedule reads s and never changes it.
func Schedule(s *Snapshot, cfg Config) Plan {
	p := newPass(s, cfg)
	p.run()
	return p.plan
}

type pass struct {
	s   *Snapshot
	cfg Config
	now time.Time

	classes   []class
	largest   int
	freeTotal int
	freeGen   int // bumps whenever a node is taken, invalidating sigInfo.freeSum

	coreSizes []int   // distinct node cores, ascending
	memSizes  []int64 // distinct node memory, ascending
	sigs      map[sigKey]int32
	sigList   []*sigInfo
	idx       index

	// The first job that waits for resources, and what it holds back.
	blocker uint64
	claimed []bool // no backfill: classes a higher waiting job needs
	res     *reservation

	placedEnd []time.Time // per node: when the job placed on it this pass ends

	// Energy budgets (energy.go): joules reserved by jobs placed this
	// pass, by budget, and the reservation of the job consider last let
	// through, which run spends when the job was placed.
	spent map[string]float64
	need  float64
	// What the sweep looked up per account (terms.go), the distinct sets
	// of budgets jobs draw on, and each signature's expected draw.
	accounts   map[string]*accountInfo
	userIDs    map[string]int32 // users with budgets, numbered
	budgetSets [][]string
	budgetIdx  map[[2]int32]int32
	sigDraw    map[int32]draw

	plan Plan
}

// reservation is EASY backfill's promise to the top waiting job.
type reservation struct {
	job uint64
	at  time.Time
	inF []bool // per class: could the reserved job use it
}

// entry is one pending job in the sort. It is small and holds no pointers:
// the priority-ordered loop then reads these instead of chasing 100,000 job
// records scattered over the heap, and the GC has nothing to scan.
type entry struct {
	key    uint64 // priority as a number that sorts the same way, high first
	prio   float64
	submit time.Duration // relative to now; Sub saturates, so no overflow
	id     uint64
	j      int32 // index into Snapshot.Jobs
	sig    int32 // index into pass.sigList
	flags  uint8 // which of the per-job checks apply
	// With energy budgets: the budgets the job draws on (an index into
	// pass.budgetSets, -1 for none) and its time limit, read in the sweep
	// so that deciding needs no job record.
	bud   int32
	limit time.Duration
}

const (
	fBlocked uint8 = 1 << iota
	fBegin
	fDeps
	fArray
	fMulti // asks for more than one node: never planned
)

func newPass(s *Snapshot, cfg Config) *pass {
	p := &pass{s: s, cfg: cfg, now: s.Now}
	p.classes = buildClasses(s.Nodes, cfg.DefaultPartition)
	for _, n := range s.Nodes {
		p.largest = max(p.largest, n.Cores)
	}
	for i := range p.classes {
		p.freeTotal += len(p.classes[i].free)
	}
	for i := range p.classes {
		p.coreSizes = append(p.coreSizes, p.classes[i].cores)
		p.memSizes = append(p.memSizes, p.classes[i].memory)
	}
	slices.Sort(p.coreSizes)
	p.coreSizes = slices.Compact(p.coreSizes)
	slices.Sort(p.memSizes)
	p.memSizes = slices.Compact(p.memSizes)
	p.sigs = make(map[sigKey]int32, 64)
	p.placedEnd = make([]time.Time, len(s.Nodes))
	return p
}

func (p *pass) run() {
	s := p.s
	var needArrays, needSingles bool
	var depIDs map[uint64]struct{} // the ids dependencies name
	nWaiting := 0
	for _, j := range s.Jobs {
		if j.State.Waiting() {
			nWaiting++
		}
	}
	waiting := make([]entry, 0, nWaiting)
	p.plan = Plan{
		Reasons:     make(map[uint64]job.Reason, nWaiting),
		Priority:    make(map[uint64]float64, nWaiting),
		Reservation: make(map[uint64]time.Time, 1),
	}
	// One sweep in the snapshot's order, which is memory order: everything
	// the later loop needs from a job is read here.
	for i, j := range s.Jobs {
		switch j.State {
		case job.Held:
			p.plan.Priority[j.ID] = p.priority(j, p.accountOf(j.Spec.Account))
			if j.Reason == job.ReasonHeldAdmin {
				p.plan.Reasons[j.ID] = job.ReasonHeldAdmin
			} else {
				p.plan.Reasons[j.ID] = job.ReasonHeld
			}
			continue
		case job.Pending:
		default:
			continue
		}
		acct := p.accountOf(j.Spec.Account)
		prio := p.priority(j, acct)
		e := entry{key: descKey(prio), prio: prio,
			submit: j.SubmitTime.Sub(p.now), id: j.ID, j: int32(i), sig: p.sigOf(&j.Spec), bud: -1}
		if s.Energy != nil {
			e.bud, e.limit = p.budgetsOf(j, acct), timeLimit(&j.Spec, p.cfg)
		}
		if j.Spec.Nodes > 1 {
			e.flags |= fMulti
		}
		if len(s.Blocked) > 0 {
			if _, ok := s.Blocked[j.ID]; ok {
				e.flags |= fBlocked
			}
		}
		if !j.Spec.Begin.IsZero() && j.Spec.Begin.After(p.now) {
			e.flags |= fBegin
		}
		if len(j.Spec.DependsOn) > 0 {
			e.flags |= fDeps
			for _, d := range j.Spec.DependsOn {
				if d.Type == job.Singleton {
					needSingles = true
					continue
				}
				if depIDs == nil {
					depIDs = make(map[uint64]struct{})
				}
				depIDs[d.JobID] = struct{}{}
			}
		}
		if j.Spec.Array != nil && j.Spec.Array.MaxParallel > 0 && j.ArrayJobID != 0 {
			e.flags |= fArray
			needArrays = true
		}
		waiting = append(waiting, e)
	}
	p.idx.build(s.Jobs, depIDs, needArrays, needSingles)

	for _, i := range queueOrder(waiting) {
		e := &waiting[i]
		p.plan.Priority[e.id] = e.prio
		if r := p.consider(e); r != "" {
			p.plan.Reasons[e.id] = r
		} else if e.bud >= 0 {
			p.spend(e)
		}
	}
}

// cmpEntry is the queue order: higher priority, then earlier submit, then lower id.
func cmpEntry(a, b entry) int {
	return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.submit, b.submit), cmp.Compare(a.id, b.id))
}

// queueOrder returns the indices of w in queue order. A comparison sort of
// 100,000 entries was a quarter of a pass; an LSD radix sort on the 64-bit
// priority key is linear, and only runs of equal priority still need
// comparing. Returning indices rather than a sorted copy spares the GC 5 MB.
func queueOrder(w []entry) []int32 {
	n := len(w)
	order := make([]int32, n)
	byEntry := func(x, y int32) int { return cmpEntry(w[x], w[y]) }
	if n < 512 {
		for i := range order {
			order[i] = int32(i)
		}
		slices.SortFunc(order, byEntry)
		return order
	}
	// The tie-break fields travel with the key so equal-priority runs are
	// sorted without reaching back into w.
	type kv struct {
		key    uint64
		submit time.Duration
		id     uint64
		i      int32
	}
	a, b := make([]kv, n), make([]kv, n)
	for i := range w {
		a[i] = kv{w[i].key, w[i].submit, w[i].id, int32(i)}
	}
	var count [256]int
	for shift := 0; shift < 64; shift += 8 {
		clear(count[:])
		for _, x := range a {
			count[byte(x.key>>shift)]++
		}
		if count[byte(a[0].key>>shift)] == n {
			continue // every key has this digit: the pass would change nothing
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, x := range a {
			d := byte(x.key >> shift)
			b[count[d]] = x
			count[d]++
		}
		a, b = b, a
	}
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && a[hi].key == a[lo].key {
			hi++
		}
		if hi-lo > 1 {
			slices.SortFunc(a[lo:hi], func(x, y kv) int {
				return cmp.Or(cmp.Compare(x.submit, y.submit), cmp.Compare(x.id, y.id))
			})
		}
		lo = hi
	}
	for i, x := range a {
		order[i] = x.i
	}
	return order
}

// descKey maps a priority to an integer whose ascending order is the
// priority's descending order (IEEE 754 bits, sign folded), so the sort
// compares integers. NaN cannot occur: Priority is finite for finite weights.
func descKey(f float64) uint64 {
	if f == 0 {
		f = 0 // fold -0 into +0 so they tie as they compare equal
	}
	b := math.Float64bits(f)
	if b>>63 != 0 {
		b = ^b
	} else {
		b |= 1 << 63
	}
	return ^b
}

// sigOf returns the index of spec's signature, working out its feasible
// classes the first time the signature is seen.
func (p *pass) sigOf(spec *job.Spec) int32 {
	k, feats := jobSig(spec, p.cfg.DefaultPartition)
	// Only the node sizes that exist matter: 3 GiB and 3.5 GiB select the
	// same classes when nodes come in 2 and 4 GiB. Rounding a request up to
	// the next size keeps the signatures few when requests are all different.
	k.cores = roundUp(p.coreSizes, k.cores)
	k.memory = roundUp(p.memSizes, k.memory)
	if i, ok := p.sigs[k]; ok {
		return i
	}
	i := int32(len(p.sigList))
	p.sigList = append(p.sigList, newSigInfo(p.classes, &k, feats))
	p.sigs[k] = i
	return i
}

// roundUp returns the smallest size not below v, or one past the largest
// when no size is that big (so the request still fits nothing).
func roundUp[T int | int64](sizes []T, v T) T {
	i, _ := slices.BinarySearch(sizes, v)
	if i == len(sizes) {
		if len(sizes) == 0 {
			return v
		}
		return sizes[len(sizes)-1] + 1
	}
	return sizes[i]
}

// consider places e's job or returns why it waits. The cheap checks come
// first, the job record is read only when a check or a placement needs it,
// and once no node is free the placement work is skipped altogether.
func (p *pass) consider(e *entry) job.Reason {
	if e.flags != 0 {
		j := p.s.Jobs[e.j]
		if e.flags&fMulti != 0 {
			return job.ReasonBadConstraints
		}
		if e.flags&fBlocked != 0 {
			return p.s.Blocked[e.id]
		}
		if e.flags&fBegin != 0 {
			return job.ReasonBeginTime
		}
		if e.flags&fDeps != 0 {
			switch p.idx.deps(j, p.s.Done) {
			case depNever:
				return job.ReasonDependencyNeverSatisfied
			case depWait:
				return job.ReasonDependency
			}
		}
		if e.flags&fArray != 0 && p.idx.arrayRun[j.ArrayJobID] >= j.Spec.Array.MaxParallel {
			return job.ReasonArrayTaskLimit
		}
	}
	si := p.sigList[e.sig]
	if si.never != "" {
		return si.never
	}
	if si.up == 0 {
		return job.ReasonNodeDown
	}
	if e.bud >= 0 {
		if r := p.energyFits(e, si); r != "" {
			return r
		}
	}
	fallback := ""
	if len(p.s.Prefer) > 0 {
		if pref, ok := p.s.Prefer[e.id]; ok {
			r, done, note := p.preferred(e, si, pref)
			if done {
				return r
			}
			fallback = note
		}
	}
	if p.freeTotal > 0 && p.freeIn(si) > 0 && p.place(p.s.Jobs[e.j], si, "", fallback) {
		return ""
	}
	return p.block(e.id, si)
}

// preferred places e's job on its preferred kind when a node of it is free,
// or keeps it waiting for one (Resources, without blocking the jobs behind
// it: they may use any node meanwhile) until it has waited
// Config.PreferWaitMax since submit. done is false when the normal order
// decides: the kind has no feasible node that will take jobs, or the wait
// is over (note then says so for Assignment.Why).
func (p *pass) preferred(e *entry, si *sigInfo, pref Preference) (r job.Reason, done bool, note string) {
	up := 0
	for _, ci := range si.classes {
		if p.classes[ci].kind == pref.Kind {
			up += p.classes[ci].up
		}
	}
	if up == 0 {
		return "", false, ""
	}
	j := p.s.Jobs[e.j]
	if p.freeTotal > 0 && p.place(j, si, pref.Kind, pref.Reason) {
		return "", true, ""
	}
	if p.now.Sub(j.SubmitTime) < p.cfg.PreferWaitMax {
		return job.ReasonResources, true, ""
	}
	return "", false, fmt.Sprintf("preferred kind %s not free after %s", pref.Kind, fmtDur(p.cfg.PreferWaitMax))
}

// freeIn counts the free nodes j's signature may use, cached until a node is taken.
func (p *pass) freeIn(si *sigInfo) int {
	if si.freeGen != p.freeGen {
		si.freeSum = 0
		for _, ci := range si.classes {
			si.freeSum += p.classes[ci].freeLeft()
		}
		si.freeGen = p.freeGen
	}
	return si.freeSum
}

// allowed reports whether a job behind the blocker may take a node of
// class c: any class when no job waits for resources; else not one the
// blocker (strict priority: any higher waiting job) could use. Those have
// no free node left anyway (see Schedule), so this only guards the rule.
func (p *pass) allowed(c int32) bool {
	switch {
	case p.blocker == 0:
		return true
	case p.res != nil:
		return !p.res.inF[c]
	}
	return p.claimed == nil || !p.claimed[c]
}

// place gives j a node by best fit if the blocking rules allow it. A kind
// limits it to nodes of that kind; lead, when set, starts Assignment.Why.
func (p *pass) place(j *job.Job, si *sigInfo, kind, lead string) bool {
	best := int32(-1)
	for _, ci := range si.classes {
		c := &p.classes[ci]
		if c.freeLeft() == 0 || kind != "" && c.kind != kind || !p.allowed(ci) {
			continue
		}
		if best >= 0 {
			b := &p.classes[best]
			if !sameFit(b, c) {
				break // classes are in best-fit order: nothing later fits better
			}
			if p.s.Nodes[c.free[c.next]].Name >= p.s.Nodes[b.free[b.next]].Name {
				continue
			}
		}
		best = ci
	}
	if best < 0 {
		return false
	}
	c := &p.classes[best]
	ni := c.free[c.next]
	c.next++
	p.freeTotal--
	p.freeGen++
	nd := p.s.Nodes[ni]
	p.placedEnd[ni] = p.now.Add(nd.ExpectedBoot + timeLimit(&j.Spec, p.cfg))
	why := p.why(j, nd)
	if lead != "" {
		why = lead + "; " + why
	}
	p.plan.Assignments = append(p.plan.Assignments, Assignment{
		JobID: j.ID, Node: nd.Name, Why: why, Backfilled: p.res != nil,
	})
	p.idx.started(j)
	return true
}

func (p *pass) why(j *job.Job, nd *node.Node) string {
	if p.res != nil {
		return fmt.Sprintf("backfill: node not needed by job %d's reservation at %s", p.res.job, p.fmtTime(p.res.at))
	}
	fit := fmt.Sprintf("best fit: %d/%d cores, %s spare, boot ~%s", max(j.Spec.Cores, 0), nd.Cores,
		fmtBytes(nd.Memory-int64(j.Spec.Memory)), fmtDur(nd.ExpectedBoot))
	if p.blocker != 0 {
		return fmt.Sprintf("%s; ahead of job %d, which cannot use this node", fit, p.blocker)
	}
	return fit
}

func (p *pass) fmtTime(t time.Time) string {
	t = t.In(p.now.Location())
	ny, nm, nd := p.now.Date()
	if y, m, d := t.Date(); y == ny && m == nm && d == nd {
		return t.Format(time.TimeOnly)
	}
	return t.Format(time.DateTime)
}

func fmtBytes(b int64) string {
	const (
		mib = 1 << 20
		gib = 1 << 30
	)
	switch {
	case b >= gib:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(b)/gib), ".0") + " GiB"
	case b >= mib:
		return fmt.Sprintf("%d MiB", b/mib)
	}
	return fmt.Sprintf("%d B", b)
}

// fmtDur shows a boot time the way people say it: 15s, 1m, 1m30s.
func fmtDur(d time.Duration) string {
	str := d.Round(time.Second).String()
	if strings.HasSuffix(str, "m0s") {
		str = strings.TrimSuffix(str, "0s")
	}
	if strings.HasSuffix(str, "h0m") {
		str = strings.TrimSuffix(str, "0m")
	}
	return str
}

// block records that j fits the cluster but finds no free node now. The
// first such job gets Resources (and, with backfill, a reservation); the
// rest get Priority, as in Slurm.
func (p *pass) block(id uint64, si *sigInfo) job.Reason {
	if p.blocker == 0 {
		p.blocker = id
		if p.cfg.Backfill {
			p.reserve(id, si)
		}
	}
	if !p.cfg.Backfill && !si.claimed {
		// Strict priority: whatever this job could use stays held for it.
		if p.claimed == nil {
			p.claimed = make([]bool, len(p.classes))
		}
		for _, ci := range si.classes {
			p.claimed[ci] = true
		}
		si.claimed = true
	}
	if p.blocker == id {
		return job.ReasonResources
	}
	return job.ReasonPriority
}

// reserve finds the earliest time one of j's nodes is free, from the
// expected ends of the jobs holding them; powering off counts as instant.
func (p *pass) reserve(id uint64, si *sigInfo) {
	var at time.Time
	var activeEnd map[uint64]time.Time
	for _, ci := range si.classes {
		for _, ni := range p.classes[ci].nodes {
			e := p.placedEnd[ni]
			if e.IsZero() {
				nd := p.s.Nodes[ni]
				if nd.State != node.Allocated || nd.Drain {
					continue
				}
				if activeEnd == nil {
					activeEnd = p.activeEnds()
				}
				var ok bool
				if e, ok = activeEnd[nd.Job]; !ok {
					// A node held by a job the snapshot does not show: assume
					// it runs a default limit from when the node changed state.
					e = nd.Since.Add(p.cfg.DefaultTimeLimit)
				}
				e = maxTime(e, p.now) // overdue: it may end any moment
			}
			if at.IsZero() || e.Before(at) {
				at = e
			}
		}
	}
	if at.IsZero() {
		return // cannot happen: consider checked that a node will take jobs
	}
	r := &reservation{job: id, at: at, inF: make([]bool, len(p.classes))}
	for _, ci := range si.classes {
		r.inF[ci] = true
	}
	p.res = r
	p.plan.Reservation[id] = at
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// activeEnds maps each active job to when it should end.
func (p *pass) activeEnds() map[uint64]time.Time {
	m := make(map[uint64]time.Time)
	for _, a := range p.s.Jobs {
		if !a.State.Active() {
			continue
		}
		if e, ok := p.s.ExpectedEnd[a.ID]; ok {
			m[a.ID] = e
			continue
		}
		start := a.StartTime
		if start.IsZero() {
			start = p.now
		}
		m[a.ID] = start.Add(timeLimit(&a.Spec, p.cfg))
	}
	return m
}
