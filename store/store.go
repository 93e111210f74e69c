// Package store owns bmcctld's durable state: one bbolt file, every bucket in
// it, the keys and record types of each, transactions, and the schema version
// with its upgrade steps. Callers get typed methods on Tx, never a bucket; no
// other package imports bbolt. It knows nothing of HTTP, power or pricing:
// ledger entries, samples and curves are records here, computed elsewhere
// (package accounting) and converted by the controller. Open checks every
// page before bbolt maps the file, so a damaged file is an error rather than
// a crash (verify.go, open.go); WriteBackup and Replace copy the file whole
// for package backup.
//
// Layout, schema 4 (numbers big-endian; JSON values; seq from NextSequence):
//
//	meta     "schema"                     → uint32 version
//	jobs     id(8)                        → job.Job
//	events   id(8) seq(8)                 → job.Event, a job's history in order
//	nodes    name                         → node.Node
//	ledger   id(8) boot(8) phase(1)       → LedgerEntry, written once (phase 1 boot, 2 run, 3 off)
//	samples  node 0x00 id(8) boot(8) t(8) → SampleChunk: readings of a boot not yet billed,
//	                                        t = the first reading's Unix nanoseconds
//	curves   id(8) boot(8)                → Curve: a billed boot's down-sampled power curve
//	node_events  name 0x00 seq(8)         → node.Event: what the controller saw of a machine
//	                                        and did to it (node_events.go; schema 3)
//	accounts name                         → assoc.Account
//	users    name                         → assoc.User: the accounts a user may charge
//	carbon   t(8)                         → CarbonHour: imported gCO2e/kWh of the hour from t (Unix ns)
//
// Record fields that the key holds (job, boot, phase, node) are not repeated
// in the value, so a record never contradicts its key. schema.go lists every
// layout change and the step that upgrades a file written by an older bmcctld.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// Errors callers tell apart with errors.Is.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrNewerSchema = errors.New("state file was written by a newer bmcctld")
)

// Store is the bbolt-backed state. Its methods are safe for concurrent use.
type Store struct {
	db    *bolt.DB
	batch *committer
}

// Options tune Open. Zero values are sensible.
type Options struct {
	// Timeout bounds the wait for the file lock held by another bmcctld.
	Timeout time.Duration
	// NoSync trades durability for speed; only benchmarks that say so use it.
	NoSync bool
}

// initialMmapSize is how much of the state file bbolt maps up front.
const initialMmapSize = 1 << 30

// Open opens (or creates) the state file and brings its schema up to date.
func Open(path string, opt Options) (*Store, error) {
	if opt.Timeout == 0 {
		opt.Timeout = 2 * time.Second
	}
	db, err := openChecked(path, opt)
	if errors.Is(err, ErrDamaged) {
		return nil, fmt.Errorf("%w; %s", err, restoreHint(path))
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := s.upgrade(); err != nil {
		db.Close()
		return nil, err
	}
	s.batch = newCommitter(db)
	return s, nil
}

// Close commits queued batches and closes the file.
func (s *Store) Close() error {
	s.batch.close()
	return s.db.Close()
}

// Path is the state file's path.
func (s *Store) Path() string { return s.db.Path() }

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// Tx is one read-write transaction over the typed buckets. It must not
// escape the closure it is passed to.
type Tx struct {
	tx *bolt.Tx
}

// Job reads one job.
func (t *Tx) Job(id uint64) (*job.Job, error) {
	v := t.tx.Bucket(bucketJobs).Get(idKey(id))
	if v == nil {
		return nil, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	j := new(job.Job)
	if err := json.Unmarshal(v, j); err != nil {
		return nil, fmt.Errorf("job %d: decode: %w", id, badRecord(err))
	}
	return j, nil
}

// PutJob writes a job that already has an id.
func (t *Tx) PutJob(j *job.Job) error {
	if j.ID == 0 {
		return errors.New("put job: no id")
	}
	v, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("job %d: encode: %w", j.ID, err)
	}
	return t.tx.Bucket(bucketJobs).Put(idKey(j.ID), v)
}

// NewJob assigns the next id to j and writes it with its first event.
func (t *Tx) NewJob(j *job.Job, ev job.Event) error {
	id, err := t.tx.Bucket(bucketJobs).NextSequence()
	if err != nil {
		return err
	}
	j.ID = id
	if err := t.PutJob(j); err != nil {
		return err
	}
	return t.AddEvent(id, ev)
}

// AddEvent appends one line to a job's history.
func (t *Tx) AddEvent(id uint64, ev job.Event) error {
	b := t.tx.Bucket(bucketEvents)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	v, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	// The global sequence keeps keys unique and in order within one job.
	return b.Put(binary.BigEndian.AppendUint64(idKey(id), seq), v)
}

// PutNode writes a node's runtime record.
func (t *Tx) PutNode(n *node.Node) error {
	v, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("node %s: encode: %w", n.Name, err)
	}
	return t.tx.Bucket(bucketNodes).Put([]byte(n.Name), v)
}

// Update runs fn in one read-write transaction. fn's side effects outside the
// transaction must wait until Update returns nil.
func (s *Store) Update(fn func(*Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// Batch is Update for many concurrent small writers (submits): those that
// arrive while a commit is running share the next one (see committer). fn
// may run more than once, so it must set its results afresh each time.
func (s *Store) Batch(fn func(*Tx) error) error {
	return s.batch.do(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// ForEachJob calls fn for every job in id order. The job is a fresh copy.
func (t *Tx) ForEachJob(fn func(*job.Job) error) error {
	return t.tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
		j := new(job.Job)
		if err := json.Unmarshal(v, j); err != nil {
			return fmt.Errorf("job %x: decode: %w", k, badRecord(err))
		}
		return fn(j)
	})
}

// ForEachNode calls fn for every stored node record.
func (t *Tx) ForEachNode(fn func(*node.Node) error) error {
	return t.tx.Bucket(bucketNodes).ForEach(func(k, v []byte) error {
		n := new(node.Node)
		if err := json.Unmarshal(v, n); err != nil {
			return fmt.Errorf("node %s: decode: %w", k, badRecord(err))
		}
		return fn(n)
	})
}

// Events returns a job's history, oldest first.
func (t *Tx) Events(id uint64) ([]job.Event, error) {
	var out []job.Event
	prefix := idKey(id)
	c := t.tx.Bucket(bucketEvents).Cursor()
	for k, v := c.Seek(prefix); k != nil && len(k) == 16 && string(k[:8]) == string(prefix); k, v = c.Next() {
		var ev job.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return nil, fmt.Errorf("job %d event: decode: %w", id, badRecord(err))
		}
		out = append(out, ev)
	}
	return out, nil
}
