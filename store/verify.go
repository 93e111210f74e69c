package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"runtime/debug"
	"syscall"
)

// ErrDamaged is what every *DamageError matches with errors.Is.
var ErrDamaged = errors.New("state file is damaged")

// DamageError says that a file is not a sound bbolt file, and where.
type DamageError struct {
	Path   string
	Reason string
}

func (e *DamageError) Error() string { return e.Path + " is damaged: " + e.Reason }

// Is makes errors.Is(err, ErrDamaged) true.
func (e *DamageError) Is(target error) bool { return target == ErrDamaged }

// The bbolt file format (version 2, unchanged since boltdb), as far as the
// check reads it. Numbers are in the machine's byte order, as bbolt writes
// them through unsafe casts.
const (
	pageHeaderSize  = 16 // id u64, flags u16, count u16, overflow u32
	elemSize        = 16 // branch: pos u32, ksize u32, child u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	bucketHeader    = 16 // root u64, sequence u64
	metaSize        = 64 // magic, version, pageSize, flags u32; root, sequence, freelist, pgid, txid, checksum u64
	metaSumSize     = 56 // the checksum covers the meta up to itself
	flagBranch      = 0x01
	flagLeaf        = 0x02
	flagMeta        = 0x04
	flagFreelist    = 0x10
	leafBucket      = 0x01
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	noFreelist      = ^uint64(0)
	maxTreeDepth    = 64 // a B+tree of 4 KiB pages 10 deep holds more than any disk
	minPageSize     = 512
	maxPageSize     = 1 << 20
	freelistOverrun = 0xFFFF
)

var ne = binary.NativeEndian

// meta is one meta page's fields.
type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // high-water mark: the first page id not in use
	txid     uint64
}

// checkFile reads every page a bbolt file uses and returns a *DamageError
// for the first thing that is not sound: a meta page that fails its
// checksum, a file shorter than its high-water mark, a page that is not what
// its parent says, an element that runs past its page or is not where bbolt
// puts it, a page used twice, or a free list that disagrees with the trees.
// bbolt trusts all of these: it maps more than the file and follows page ids
// and offsets with unchecked pointer arithmetic, so a damaged file crashes
// it with SIGBUS or SIGSEGV instead of returning an error. Once this check
// passes, every page bbolt reaches lies inside the file.
//
// The check reads the file through a mapping of exactly its length as a Go
// slice, so every access is bounds-checked (a bad offset is an error, never
// a read past the end); an I/O error under the mapping (a bad sector) is a
// fault that SetPanicOnFault turns into a panic, recovered as damage.
//
// It does not judge values (bbolt stores bytes): a flipped bit inside a
// record is found only if the record no longer decodes.
func checkFile(path string, f *os.File) (err error) {
	bad := func(format string, a ...any) error {
		return &DamageError{Path: path, Reason: fmt.Sprintf(format, a...)}
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return bad("it is empty (0 bytes)")
	}
	if int64(int(size)) != size {
		return bad("it is %d bytes, more than this machine can map", size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map %s: %w", path, err)
	}
	defer syscall.Munmap(data)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = bad("reading it failed: %v", p)
		}
	}()
	m0, err := readMeta(data, 0, 0)
	if err != nil {
		return bad("%v", err)
	}
	m1, err := readMeta(data, 1, int(m0.pageSize))
	if err != nil {
		return bad("%v", err)
	}
	if m1.pageSize != m0.pageSize {
		return bad("meta pages disagree on the page size (%d, %d)", m0.pageSize, m1.pageSize)
	}
	cur := m0
	if m1.txid > m0.txid {
		cur = m1
	}
	psize := int64(cur.pageSize)
	if need := int64(cur.pgid) * psize; cur.pgid > uint64(size/psize) || size < need {
		return bad("it is truncated: %d bytes, its %d pages need %d", size, cur.pgid, need)
	}
	c := &pageChecker{data: data, psize: psize, hwm: cur.pgid, used: make([]bool, cur.pgid)}
	c.used[0], c.used[1] = true, true
	if err := c.tree(cur.root, 0); err != nil {
		return bad("%v", err)
	}
	if err := c.freelist(cur.freelist); err != nil {
		return bad("%v", err)
	}
	for id, ok := range c.used {
		if !ok {
			return bad("page %d is neither in use nor free", id)
		}
	}
	return nil
}

// readMeta reads and validates meta page i at off. Both must be sound: bbolt
// writes a whole meta page after the data it points to is synced, so a valid
// file never has a bad one, and one that fails its checksum may be the
// newest transaction's.
func readMeta(data []byte, i int, off int) (meta, error) {
	var m meta
	if off+pageHeaderSize+metaSize > len(data) {
		return m, fmt.Errorf("it is too short for its meta pages (%d bytes)", len(data))
	}
	buf := data[off:]
	b := buf[pageHeaderSize : pageHeaderSize+metaSize]
	if magic := ne.Uint32(b[0:]); magic != boltMagic {
		return m, fmt.Errorf("meta page %d: not a bbolt meta page (magic %#x)", i, magic)
	}
	if id, fl := ne.Uint64(buf[0:]), ne.Uint16(buf[8:]); id != uint64(i) || fl != flagMeta {
		return m, fmt.Errorf("meta page %d: header says page %d, flags %#x", i, id, fl)
	}
	if v := ne.Uint32(b[4:]); v != boltVersion {
		return m, fmt.Errorf("meta page %d: format version %d, want %d", i, v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[:metaSumSize])
	if sum := ne.Uint64(b[metaSumSize:]); sum != h.Sum64() {
		return m, fmt.Errorf("meta page %d: checksum mismatch", i)
	}
	m = meta{pageSize: ne.Uint32(b[8:]), root: ne.Uint64(b[16:]), freelist: ne.Uint64(b[32:]),
		pgid: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:])}
	switch {
	case m.pageSize < minPageSize || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0:
		return m, fmt.Errorf("meta page %d: page size %d", i, m.pageSize)
	case m.pgid < 4:
		return m, fmt.Errorf("meta page %d: high-water mark %d is below the 4 pages of an empty file", i, m.pgid)
	case m.root < 2 || m.root >= m.pgid:
		return m, fmt.Errorf("meta page %d: root page %d is outside 2..%d", i, m.root, m.pgid-1)
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.pgid):
		return m, fmt.Errorf("meta page %d: free list page %d is outside 2..%d", i, m.freelist, m.pgid-1)
	}
	return m, nil
}

// pageChecker walks a file's pages; used marks every page id a tree, the free
// list or a meta page claims. data holds at least hwm pages.
type pageChecker struct {
	data  []byte
	psize int64
	hwm   uint64
	used  []bool
}

// page returns page id with its overflow pages, and claims them.
func (c *pageChecker) page(id uint64, parent string) ([]byte, error) {
	if id < 2 || id >= c.hwm {
		return nil, fmt.Errorf("%s points at page %d, outside 2..%d", parent, id, c.hwm-1)
	}
	head := c.data[int64(id)*c.psize:][:c.psize]
	if got := ne.Uint64(head); got != id {
		return nil, fmt.Errorf("page %d (from %s): its header says page %d", id, parent, got)
	}
	over := uint64(ne.Uint32(head[12:]))
	if over >= c.hwm-id {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the last page %d", id, over, c.hwm-1)
	}
	for p := id; p <= id+over; p++ {
		if c.used[p] {
			return nil, fmt.Errorf("page %d (from %s) is used twice", p, parent)
		}
		c.used[p] = true
	}
	return c.data[int64(id)*c.psize:][:int64(over+1)*c.psize], nil
}

// tree checks the branch or leaf page id and everything below it.
func (c *pageChecker) tree(id uint64, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("page %d: the tree is deeper than %d pages", id, maxTreeDepth)
	}
	parent := "the meta page"
	if depth > 0 {
		parent = "a branch or bucket"
	}
	buf, err := c.page(id, parent)
	if err != nil {
		return err
	}
	where := fmt.Sprintf("page %d", id)
	switch fl := ne.Uint16(buf[8:]); fl {
	case flagLeaf:
		return c.leaf(buf, where, depth, false)
	case flagBranch:
		es, _, err := elements(buf, where, false)
		if err != nil {
			return err
		}
		for _, e := range es {
			if err := c.tree(e.child, depth+1); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("%s: flags %#x, want a branch or leaf page", where, fl)
	}
}

// leaf checks a leaf page's elements and the buckets they hold; buf is a
// page read from the file, or an inline bucket's page, which fills its
// value exactly.
func (c *pageChecker) leaf(buf []byte, where string, depth int, inline bool) error {
	es, end, err := elements(buf, where, true)
	if err != nil {
		return err
	}
	if inline && end != len(buf) {
		return fmt.Errorf("%s: elements end at byte %d of %d", where, end, len(buf))
	}
	for i, e := range es {
		if e.flags&^leafBucket != 0 {
			return fmt.Errorf("%s: element %d has flags %#x", where, i, e.flags)
		}
		if e.flags != leafBucket {
			continue
		}
		v := e.value
		if len(v) < bucketHeader {
			return fmt.Errorf("%s: bucket %d is %d bytes, shorter than its header", where, i, len(v))
		}
		if root := ne.Uint64(v); root != 0 {
			if len(v) != bucketHeader {
				return fmt.Errorf("%s: bucket %d has a root page and %d bytes more", where, i, len(v)-bucketHeader)
			}
			if err := c.tree(root, depth+1); err != nil {
				return err
			}
			continue
		}
		page := v[bucketHeader:]
		in := fmt.Sprintf("%s bucket %d (inline)", where, i)
		if len(page) < pageHeaderSize || ne.Uint16(page[8:]) != flagLeaf {
			return fmt.Errorf("%s: not a leaf page", in)
		}
		if depth >= maxTreeDepth {
			return fmt.Errorf("%s: buckets nest deeper than %d", in, maxTreeDepth)
		}
		if err := c.leaf(page, in, depth+1, true); err != nil {
			return err
		}
	}
	return nil
}

// element is one element of a branch or leaf page.
type element struct {
	flags uint32
	value []byte
	child uint64
}

// elements reads a page's elements. bbolt writes them packed: the element
// table, then each element's key and value in order, every key at least one
// byte; any other layout is damage (a changed count, offset or size). end is
// where the last element's data ends.
func elements(buf []byte, where string, leaf bool) ([]element, int, error) {
	n := int(ne.Uint16(buf[10:]))
	next := uint64(pageHeaderSize + n*elemSize)
	if next > uint64(len(buf)) {
		return nil, 0, fmt.Errorf("%s: %d elements do not fit in %d bytes", where, n, len(buf))
	}
	es := make([]element, n)
	for i := range es {
		at := pageHeaderSize + i*elemSize
		var pos, ksize, vsize uint32
		if leaf {
			es[i].flags, pos, ksize, vsize = ne.Uint32(buf[at:]), ne.Uint32(buf[at+4:]), ne.Uint32(buf[at+8:]), ne.Uint32(buf[at+12:])
		} else {
			pos, ksize, es[i].child = ne.Uint32(buf[at:]), ne.Uint32(buf[at+4:]), ne.Uint64(buf[at+8:])
		}
		start := uint64(at) + uint64(pos)
		end := start + uint64(ksize) + uint64(vsize)
		switch {
		case start != next:
			return nil, 0, fmt.Errorf("%s: element %d starts at byte %d, want %d", where, i, start, next)
		case ksize == 0:
			return nil, 0, fmt.Errorf("%s: element %d has an empty key", where, i)
		case end > uint64(len(buf)):
			return nil, 0, fmt.Errorf("%s: element %d runs to byte %d of %d", where, i, end, len(buf))
		}
		es[i].value = buf[start+uint64(ksize) : end]
		next = end
	}
	return es, int(next), nil
}

// freelist checks the free list page: every free id below the high-water
// mark, none free twice, none in use.
func (c *pageChecker) freelist(id uint64) error {
	if id == noFreelist {
		return nil
	}
	buf, err := c.page(id, "the meta page's free list")
	if err != nil {
		return err
	}
	if fl := ne.Uint16(buf[8:]); fl != flagFreelist {
		return fmt.Errorf("free list page %d: flags %#x", id, fl)
	}
	n, start := uint64(ne.Uint16(buf[10:])), uint64(pageHeaderSize)
	if n == freelistOverrun {
		n, start = ne.Uint64(buf[pageHeaderSize:]), pageHeaderSize+8
	}
	if n > (uint64(len(buf))-start)/8 {
		return fmt.Errorf("free list page %d: %d ids do not fit in %d bytes", id, n, len(buf))
	}
	for i := uint64(0); i < n; i++ {
		free := ne.Uint64(buf[start+8*i:])
		switch {
		case free < 2 || free >= c.hwm:
			return fmt.Errorf("free list page %d: free page %d is outside 2..%d", id, free, c.hwm-1)
		case c.used[free]:
			return fmt.Errorf("free list page %d: page %d is free and in use, or free twice", id, free)
		}
		c.used[free] = true
	}
	return nil
}

// recordError is a stored record that no longer decodes: the pages are
// sound but a value is not what this release wrote. It is damage all the
// same, so the daemon names the way back (bmcctld --restore).
type recordError struct{ err error }

func (e recordError) Error() string        { return e.err.Error() }
func (e recordError) Unwrap() error        { return e.err }
func (e recordError) Is(target error) bool { return target == ErrDamaged }

func badRecord(err error) error { return recordError{err} }

// RestoreHint says how to go back to the newest good backup of this
// state file; bmcctld adds it to an error that errors.Is ErrDamaged.
func (s *Store) RestoreHint() string { return restoreHint(s.Path()) }
