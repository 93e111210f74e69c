package store

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// layout is where things are in the fixture's file.
type layout struct {
	psize    int
	hwm      int
	root     int // the root bucket's page: a leaf of bucket elements
	branch   int // a branch page of the jobs bucket
	leaf     int // a leaf page under it
	freelist int
	data     []byte
}

var fixture = sync.OnceValues(buildFixture)

// buildFixture writes a state file as bmcctld leaves it: enough jobs and
// events that the jobs bucket has branch pages, inline buckets (meta, and
// the empty ones), and a free list that is not empty (every commit frees
// the pages it rewrote).
func buildFixture() (layout, error) {
	dir, err := os.MkdirTemp("", "store-fixture")
	if err != nil {
		return layout{}, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		return layout{}, err
	}
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for batch := 0; batch < 4; batch++ {
		err := s.Update(func(tx *Tx) error {
			for i := 0; i < 150; i++ {
				j := &job.Job{User: "ann", Cwd: "/home/ann", State: job.Pending, ArrayTaskID: -1, SubmitTime: t0}
				if err := tx.NewJob(j, job.Event{Time: t0, State: job.Pending, Reason: "submitted"}); err != nil {
					return err
				}
			}
			return tx.PutNode(&node.Node{Config: node.Config{Name: "n1"}})
		})
		if err != nil {
			return layout{}, err
		}
	}
	if err := s.Close(); err != nil {
		return layout{}, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return layout{}, err
	}
	l := layout{psize: db.Info().PageSize}
	err = db.View(func(tx *bolt.Tx) error {
		l.hwm = int(tx.Size()) / l.psize
		l.branch = int(tx.Bucket(bucketJobs).Root())
		return nil
	})
	db.Close()
	if err != nil {
		return l, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return l, err
	}
	// bbolt grows the file ahead of its pages; the pages are what matters.
	l.data = data[:l.hwm*l.psize]
	l.root = int(ne.Uint64(currentMeta(l)[16:]))
	l.freelist = int(ne.Uint64(currentMeta(l)[32:]))
	if ne.Uint16(l.page(l.branch)[8:]) != flagBranch || ne.Uint16(l.page(l.root)[8:]) != flagLeaf {
		return l, errors.New("fixture: the jobs bucket has no branch page, or the root no leaf")
	}
	l.leaf = int(ne.Uint64(l.page(l.branch)[pageHeaderSize+8:]))
	if n := ne.Uint16(l.page(l.freelist)[10:]); n == 0 || n == freelistOverrun {
		return l, errors.New("fixture's free list is empty or too long for the test")
	}
	return l, nil
}

func (l layout) page(id int) []byte { return l.data[id*l.psize : (id+1)*l.psize] }

// currentMeta is the bytes of the meta bbolt uses, after the page header.
func currentMeta(l layout) []byte {
	m0, m1 := l.page(0)[pageHeaderSize:], l.page(1)[pageHeaderSize:]
	if ne.Uint64(m1[48:]) > ne.Uint64(m0[48:]) {
		return m1
	}
	return m0
}

// bucket is the offset in the file of the root page's element for bucket name.
func (l layout) bucket(name []byte) int {
	p := l.page(l.root)
	for i := range int(ne.Uint16(p[10:])) {
		e := pageHeaderSize + i*elemSize
		k := p[e+int(ne.Uint32(p[e+4:])):][:ne.Uint32(p[e+8:])]
		if bytes.Equal(k, name) {
			return l.elem(l.root, i)
		}
	}
	panic("no bucket " + string(name))
}

// elem is the offset in the file of element i of page id.
func (l layout) elem(id, i int) int { return id*l.psize + pageHeaderSize + i*elemSize }

func fixtureCopy(t *testing.T) (layout, []byte) {
	t.Helper()
	l, err := fixture()
	if err != nil {
		t.Fatal(err)
	}
	return l, bytes.Clone(l.data)
}

func put32(b []byte, off int, v uint32) { ne.PutUint32(b[off:], v) }
func put64(b []byte, off int, v uint64) { ne.PutUint64(b[off:], v) }

// Each kind of damage is refused with one line that says where and how to
// restore, and no crash: truncation, bits flipped in meta, branch, leaf and
// free list pages, zeroed pages.
func TestOpenRefusesDamagedFile(t *testing.T) {
	l, _ := fixtureCopy(t)
	ps := l.psize
	cases := []struct {
		name   string
		damage func(b []byte) []byte
		want   string
	}{
		{"truncated to 0", func(b []byte) []byte { return b[:0] }, "it is empty (0 bytes)"},
		{"truncated to 100", func(b []byte) []byte { return b[:100] }, "too short for its meta pages"},
		{"truncated to one page", func(b []byte) []byte { return b[:ps] }, "too short for its meta pages"},
		{"truncated to two pages", func(b []byte) []byte { return b[:2*ps] }, "it is truncated"},
		{"truncated inside the last page", func(b []byte) []byte { return b[:l.hwm*ps-1] }, "it is truncated"},
		{"truncated by one page", func(b []byte) []byte { return b[:(l.hwm-1)*ps] }, "it is truncated"},
		{"meta 0 root bit flipped", func(b []byte) []byte { b[pageHeaderSize+16] ^= 0x04; return b }, "meta page 0: checksum mismatch"},
		{"meta 1 txid bit flipped", func(b []byte) []byte { b[ps+pageHeaderSize+48] ^= 0x01; return b }, "meta page 1: checksum mismatch"},
		{"meta 0 magic flipped", func(b []byte) []byte { b[pageHeaderSize] ^= 0x80; return b }, "meta page 0: not a bbolt meta page"},
		{"meta 1 header flags", func(b []byte) []byte { b[ps+8] ^= 0x01; return b }, "meta page 1: header says page 1, flags 0x5"},
		{"meta 1 zeroed", func(b []byte) []byte { clear(b[ps : 2*ps]); return b }, "meta page 1: not a bbolt meta page (magic 0x0)"},
		{"branch flags flipped", func(b []byte) []byte { b[l.branch*ps+8] ^= 0x04; return b }, "flags 0x5, want a branch or leaf page"},
		{"branch count flipped", func(b []byte) []byte { b[l.branch*ps+10] ^= 0x01; return b }, "element"},
		{"branch child high bit", func(b []byte) []byte { b[l.elem(l.branch, 0)+15] ^= 0x80; return b }, "outside 2.."},
		{"branch child points at a sibling", func(b []byte) []byte {
			copy(b[l.elem(l.branch, 0)+8:], b[l.elem(l.branch, 1)+8:l.elem(l.branch, 1)+16])
			return b
		}, "is used twice"},
		{"branch key offset flipped", func(b []byte) []byte { b[l.elem(l.branch, 1)+1] ^= 0x40; return b }, "element 1 starts at byte"},
		{"branch zeroed", func(b []byte) []byte { clear(b[l.branch*ps : (l.branch+1)*ps]); return b }, "its header says page 0"},
		{"leaf key size flipped", func(b []byte) []byte { b[l.elem(l.leaf, 0)+8] ^= 0x10; return b }, "element 1 starts at byte"},
		{"leaf value size high bit", func(b []byte) []byte { b[l.elem(l.leaf, 2)+15] ^= 0x80; return b }, "element 2 runs to byte"},
		{"leaf element flags", func(b []byte) []byte { b[l.elem(l.leaf, 0)] ^= 0x04; return b }, "element 0 has flags 0x4"},
		{"leaf page id flipped", func(b []byte) []byte { b[l.leaf*ps] ^= 0x01; return b }, "its header says page"},
		{"leaf overflow", func(b []byte) []byte { put32(b, l.leaf*ps+12, 1<<30); return b }, "overflow pages run past"},
		{"leaf zeroed", func(b []byte) []byte { clear(b[l.leaf*ps : (l.leaf+1)*ps]); return b }, "its header says page 0"},
		{"leaf keys out of order", func(b []byte) []byte {
			// Job ids are 8-byte keys: make the first one larger than the second.
			off := l.elem(l.leaf, 0) + int(ne.Uint32(b[l.elem(l.leaf, 0)+4:]))
			b[off] ^= 0x80
			return b
		}, "key["},
		{"bucket root points at a meta page", func(b []byte) []byte {
			e := l.bucket(bucketJobs)
			off := e + int(ne.Uint32(b[e+4:])) + int(ne.Uint32(b[e+8:]))
			put64(b, off, 1)
			return b
		}, "outside 2.."},
		{"inline bucket page flags", func(b []byte) []byte {
			e := l.bucket(bucketMeta) // inline: one key
			off := e + int(ne.Uint32(b[e+4:])) + int(ne.Uint32(b[e+8:])) + bucketHeader + 8
			b[off] ^= 0x01
			return b
		}, "(inline): not a leaf page"},
		{"free list names a page in use", func(b []byte) []byte {
			put64(b, l.freelist*ps+pageHeaderSize, uint64(l.leaf))
			return b
		}, "is free and in use"},
		{"free list count lowered", func(b []byte) []byte { b[l.freelist*ps+10]--; return b }, "is neither in use nor free"},
		{"free list count raised", func(b []byte) []byte { put32(b, l.freelist*ps+8, 0xfffe<<16|flagFreelist); return b }, "ids do not fit"},
		{"free list zeroed", func(b []byte) []byte { clear(b[l.freelist*ps : (l.freelist+1)*ps]); return b }, "its header says page 0"},
		{"not a bbolt file", func(b []byte) []byte { return []byte(strings.Repeat("not a database\n", 1000)) }, "not a bbolt meta page"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, b := fixtureCopy(t)
			dir := t.TempDir()
			path := filepath.Join(dir, "state.db")
			if err := os.WriteFile(path, tc.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("opened a damaged file")
			}
			var de *DamageError
			if !errors.Is(err, ErrDamaged) || !errors.As(err, &de) {
				t.Fatalf("err = %v, want a *DamageError", err)
			}
			msg := err.Error()
			if !strings.Contains(de.Reason, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("err = %q, want one line with %q", msg, tc.want)
			}
			if want := "bmcctld --restore --state-dir " + dir; !strings.HasSuffix(msg, want) {
				t.Errorf("err = %q, want it to end with %q", msg, want)
			}
			if err := Verify(path); !errors.Is(err, ErrDamaged) {
				t.Errorf("Verify = %v, want ErrDamaged", err)
			}
		})
	}
}

// A sound file opens whatever its length past the high-water mark, and
// keeps every job.
func TestOpenAcceptsSoundFile(t *testing.T) {
	l, _ := fixtureCopy(t)
	for name, size := range map[string]int{"as written": len(l.data), "cut at the high-water mark": l.hwm * l.psize, "grown": len(l.data) + 1<<20} {
		t.Run(name, func(t *testing.T) {
			_, b := fixtureCopy(t)
			b = append(b, make([]byte, max(0, size-len(b)))...)[:size]
			path := filepath.Join(t.TempDir(), "state.db")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := Verify(path); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			s := open(t, path)
			if n := countJobs(t, s); n != 600 {
				t.Errorf("%d jobs, want 600", n)
			}
		})
	}
}

func countJobs(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	err := s.View(func(tx *Tx) error {
		return tx.ForEachJob(func(*job.Job) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Any single flipped bit in the used pages either is refused as damage or
// leaves a file that bbolt reads and writes without faulting (a bit inside a
// value, or in the unused end of a page). The test process would die of
// SIGBUS or SIGSEGV otherwise.
func TestOpenNeverFaultsOnAFlippedBit(t *testing.T) {
	l, _ := fixtureCopy(t)
	rng := rand.New(rand.NewPCG(10, 9))
	refused, opened := 0, 0
	for i := range 160 {
		_, b := fixtureCopy(t)
		bit := rng.IntN(l.hwm * l.psize * 8)
		if i%2 == 1 {
			// Half the flips go to page headers and element tables, where
			// most bytes of a page are not.
			page := rng.IntN(l.hwm)
			n := int(ne.Uint16(b[page*l.psize+10:]))
			bit = page*l.psize*8 + rng.IntN(min(l.psize, pageHeaderSize+n*elemSize)*8)
		}
		b[bit/8] ^= 1 << (bit % 8)
		path := filepath.Join(t.TempDir(), "state.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err != nil {
			if !errors.Is(err, ErrDamaged) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("bit %d: err = %q, want one line matching ErrDamaged", bit, err)
			}
			refused++
			continue
		}
		opened++
		s.View(func(tx *Tx) error {
			tx.ForEachJob(func(j *job.Job) error { _, err := tx.Events(j.ID); return err })
			return nil
		})
		err = s.Update(func(tx *Tx) error {
			return tx.NewJob(&job.Job{User: "bob", State: job.Pending}, job.Event{State: job.Pending})
		})
		if err != nil {
			t.Errorf("bit %d: write after open: %v", bit, err)
		}
		s.Close()
	}
	t.Logf("%d flips refused as damage, %d opened", refused, opened)
	if refused == 0 {
		t.Error("no flip was refused: the check finds nothing")
	}
}

// The second open of a file in use still says who holds it.
func TestOpenOfAFileInUseSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	open(t, path)
	_, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "another bmcctld holds it") {
		t.Fatalf("err = %v, want ErrInUse", err)
	}
	if !errors.Is(err, bolt.ErrTimeout) {
		t.Errorf("err = %v, want it to match bbolt's lock timeout too", err)
	}
	if err := Verify(path); !errors.Is(err, ErrInUse) {
		t.Errorf("Verify = %v, want ErrInUse", err)
	}
	if _, err := Replace(path, path, path+".old"); !errors.Is(err, ErrInUse) {
		t.Errorf("Replace = %v, want ErrInUse", err)
	}
}

func FuzzOpen(f *testing.F) {
	// A small sound file (Go's mutator is slow on the big fixture): two
	// jobs, a free list, inline buckets.
	path := filepath.Join(f.TempDir(), "seed.db")
	s, err := Open(path, Options{})
	if err != nil {
		f.Fatal(err)
	}
	for range 2 {
		s.Update(func(tx *Tx) error { return tx.NewJob(&job.Job{User: "ann"}, job.Event{State: job.Pending}) })
	}
	s.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	psize := int(ne.Uint32(data[pageHeaderSize+8:]))
	hwm := int(ne.Uint64(currentMeta(layout{psize: psize, data: data})[40:]))
	f.Add(data[:hwm*psize])
	f.Add(data[:3*psize])
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "state.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("err = %v, want ErrDamaged", err)
			}
			return
		}
		s.View(func(tx *Tx) error { return tx.ForEachJob(func(*job.Job) error { return nil }) })
		s.Close()
	})
}
