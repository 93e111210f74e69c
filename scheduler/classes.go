package scheduler

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// A class is a set of nodes no constraint can tell apart: same arch, kind, features,
// cores, memory, partitions and expected boot. Checking a job against 20
// classes instead of 10,000 nodes is what keeps a pass fast; within a class
// nodes differ only by name, so the free list is simply kept in name order.
type class struct {
	arch     string
	kind     string   // node kind (arch when unset): Snapshot.Prefer names it
	features []string // sorted, unique
	cores    int
	memory   int64
	parts    []string // sorted; never empty (the default partition fills in)
	boot     time.Duration

	nodes []int32 // every node of the class, by name
	free  []int32 // available at the start of the pass, by name
	next  int     // free[next:] are still free in this pass
	up    int     // nodes neither DOWN nor drained: they will take jobs again
	warm  int     // free nodes that are IDLE-ON (see warmFirst)
}

func (c *class) freeLeft() int { return len(c.free) - c.next }

// sameFit reports whether best fit cannot choose between a and b.
func sameFit(a, b *class) bool {
	return a.cores == b.cores && a.memory == b.memory && a.boot == b.boot
}

type classKey struct {
	arch, kind, features, parts string
	cores                       int
	memory                      int64
	boot                        time.Duration
}

// canon returns ss sorted and deduplicated, and its joined form for map keys.
// It never sorts the caller's slice: the snapshot is read-only.
func canon(ss []string) ([]string, string) {
	switch len(ss) {
	case 0:
		return nil, ""
	case 1:
		return ss, ss[0]
	}
	if !slices.IsSorted(ss) || hasDup(ss) {
		ss = slices.Clone(ss)
		slices.Sort(ss)
		ss = slices.Compact(ss)
	}
	return ss, strings.Join(ss, "\x00")
}

func hasDup(sorted []string) bool {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return true
		}
	}
	return false
}

// kindOf is a node's kind for Snapshot.Prefer; unset, it is the arch, as
// the nodes file defaults it.
func kindOf(n *node.Node) string {
	if n.Kind != "" {
		return n.Kind
	}
	return n.Arch
}

// nodeUp reports whether a node will take jobs again (now or when its job ends).
func nodeUp(n *node.Node) bool {
	return !n.Drain && (n.Free() || n.State == node.Allocated)
}

// buildClasses groups nodes into classes sorted in best-fit order (cores,
// memory, boot, then the first node's name).
func buildClasses(nodes []*node.Node, defPart string) []class {
	order := make([]int32, len(nodes))
	for i := range order {
		order[i] = int32(i)
	}
	// Name order first, so every class's lists come out sorted by name.
	slices.SortFunc(order, func(a, b int32) int { return cmp.Or(cmp.Compare(nodes[a].Name, nodes[b].Name), cmp.Compare(a, b)) })

	byKey := make(map[classKey]int32, 64)
	var classes []class
	defParts := []string{defPart}
	for _, ni := range order {
		n := nodes[ni]
		feats, fk := canon(n.Features)
		parts, pk := canon(n.Partitions)
		if len(parts) == 0 {
			parts, pk = defParts, defPart
		}
		k := classKey{arch: n.Arch, kind: kindOf(n), features: fk, parts: pk, cores: n.Cores, memory: n.Memory, boot: n.ExpectedBoot}
		ci, ok := byKey[k]
		if !ok {
			ci = int32(len(classes))
			byKey[k] = ci
			classes = append(classes, class{arch: n.Arch, kind: k.kind, features: feats, cores: n.Cores,
				memory: n.Memory, parts: parts, boot: n.ExpectedBoot})
		}
		c := &classes[ci]
		c.nodes = append(c.nodes, ni)
		if n.Available() {
			c.free = append(c.free, ni)
			if n.State == node.IdleOn {
				c.warm++
			}
		}
		if nodeUp(n) {
			c.up++
		}
	}

	// Best-fit order; ties go to the class whose first node sorts first.
	slices.SortFunc(classes, func(a, b class) int {
		return cmp.Or(cmp.Compare(a.cores, b.cores), cmp.Compare(a.memory, b.memory),
			cmp.Compare(a.boot, b.boot), cmp.Compare(nodes[a.nodes[0]].Name, nodes[b.nodes[0]].Name),
			cmp.Compare(a.nodes[0], b.nodes[0]))
	})
	return classes
}

// sigKey is everything about a job that decides which classes it may use.
type sigKey struct {
	arch, features, part string
	imageArchs           string // the image's architectures, sorted and joined; "" = any
	cores                int
	memory               int64
}

func jobSig(spec *job.Spec, defPart string) (sigKey, []string) {
	arch := spec.Arch
	if arch == "any" {
		arch = ""
	}
	part := spec.Partition
	if part == "" {
		part = defPart
	}
	feats, fk := canon(spec.Features)
	_, ik := canon(spec.ImageArchs)
	return sigKey{arch: arch, features: fk, part: part, imageArchs: ik, cores: spec.Cores,
		memory: int64(spec.Memory)}, feats
}

// sigInfo is what a pass learns once per job signature.
type sigInfo struct {
	classes []int32 // feasible classes in best-fit order
	total   int     // nodes in those classes, whatever their state
	up      int     // of which neither DOWN nor drained
	never   job.Reason

	claimed bool // no-backfill mode: its classes are already held for a higher job

	freeGen int // freeSum is valid while the pass's freeGen equals this
	freeSum int
}

// containsAll reports whether sorted set has every element of sorted sub.
func containsAll(set, sub []string) bool {
	i := 0
	for _, s := range sub {
		for i < len(set) && set[i] < s {
			i++
		}
		if i == len(set) || set[i] != s {
			return false
		}
		i++
	}
	return true
}

// The feasibility chain: each check is cheap and names one constraint.
func partOK(c *class, k *sigKey) bool { return slices.Contains(c.parts, k.part) }
func archOK(c *class, k *sigKey) bool {
	return (k.arch == "" || c.arch == k.arch) && (k.imageArchs == "" || listHas(k.imageArchs, c.arch))
}
func featOK(c *class, feats []string) bool {
	return len(feats) == 0 || containsAll(c.features, feats)
}
func coresOK(c *class, k *sigKey) bool  { return k.cores <= c.cores }
func memoryOK(c *class, k *sigKey) bool { return k.memory <= c.memory }

func newSigInfo(classes []class, k *sigKey, feats []string) *sigInfo {
	si := &sigInfo{freeGen: -1}
	inPart, archMatch := false, false
	for ci := range classes {
		c := &classes[ci]
		if !partOK(c, k) {
			continue
		}
		inPart = true
		if !archOK(c, k) {
			continue
		}
		archMatch = true
		if !featOK(c, feats) || !coresOK(c, k) || !memoryOK(c, k) {
			continue
		}
		si.classes = append(si.classes, int32(ci))
		si.total += len(c.nodes)
		si.up += c.up
	}
	if si.total == 0 {
		// Feasible() rejects such jobs at submit; this is for a cluster that
		// shrank or changed since.
		si.never = job.ReasonPartition
		if inPart && !archMatch {
			si.never = job.ReasonImageArch
		}
	}
	return si
}

// listHas reports whether the joined list (see canon) holds s.
func listHas(list, s string) bool {
	for _, e := range strings.Split(list, "\x00") {
		if e == s {
			return true
		}
	}
	return false
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
